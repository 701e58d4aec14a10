package dev.speedrun.app;

import dev.speedrun.kernels.DeviceProfile;
import dev.speedrun.kernels.DeviceProfile.Phase;
import dev.speedrun.kernels.Ops;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.model.Gpt;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.optim.StepPlan;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Set;

/**
 * {@code bench step --profile FILE.json}: one training step on a CUDA device (real or
 * {@code cuda-emu}) observed by a {@link DeviceProfile}, structured as {@link TrainStep} runs it:
 * the statistics zeroed, {@value #MICRO_STEPS} micro-steps of the bench's batch with the loss left
 * on the device, the {@link FiniteGuard}'s gradient sums, the optimizer step (with
 * {@code --with-optimizer}; else the gradients are zeroed first, as the bench's own steps do), and
 * the step's one statistics readback. Unobserved steps of the same kind run first
 * ({@value #WARMUP_STEPS}), so caches (cuBLASLt plans, staging buffers) are
 * warm and, with CUDA graphs (each micro-step a replayable region, as {@link TrainStep} runs it),
 * every micro-step's segment has been captured: the profiled step is the steady state. Attention's
 * work is counted over the batch's own documents.
 */
final class StepProfiler {
    /** Micro-steps of the profiled step: two, so a per-micro-step host wait shows as 2 per step. */
    static final int MICRO_STEPS = 2;
    /**
     * Unobserved steps before the profiled one: two, so that with graphs every micro-step's segment
     * has been seen twice (captured) and the profiled step replays; the same without graphs, so both
     * profile a step of the same parity (the record's optimizer runs Adam on odd steps only).
     */
    static final int WARMUP_STEPS = 2;

    private StepProfiler() {}

    /** What one profiled step trains on. */
    record Batch(int[] inputs, int[] targets, int[] cuSeqlens, int wsShort, int wsLong, LossFunction loss, double[] mtpWeights) {}

    /** Fails unless {@code ops} runs on a CUDA device (checked before the bench's timing runs). */
    static void requireCuda(Ops ops) {
        if (!DeviceProfile.supports(ops))
            throw new IllegalArgumentException("--profile needs a CUDA backend (--backend cuda or cuda-emu), got " + ops.backend().name());
    }

    /**
     * Profiles one step of {@code gpt} on {@code b} (micro-steps as replayable regions when
     * {@code graphs}) and writes the JSON to {@code file} (atomically); returns the profile.
     */
    static DeviceProfile run(Path file, Gpt gpt, Optimizers opt, Ops ops, Batch b, long[] stepNo, boolean graphs) {
        requireCuda(ops);
        DeviceProfile profile;
        try (MemoryArena arena = ops.backend().newArena()) {
            FiniteGuard guard = new FiniteGuard(gpt, ops);
            Tensor stats = arena.allocate(gpt.precision().statistics(), TrainStep.slots(guard));
            for (int i = 0; i < WARMUP_STEPS; i++) step(gpt, opt, ops, b, guard, stats, stepNo, null, graphs);
            try (DeviceProfile p = DeviceProfile.attach(ops)) {
                profile = p;
                p.attentionKeys(window -> keysSeen(b.cuSeqlens(), window));
                step(gpt, opt, ops, b, guard, stats, stepNo, p, graphs);
            }
        }
        try {
            profile.write(file);
        } catch (IOException e) {
            throw new UncheckedIOException("--profile " + file + ": " + e.getMessage(), e);
        }
        System.out.printf("profile (%d tokens × %d micro-steps, %s rates): %.0f launches per micro-step, %.0f host syncs per step, "
                        + "%.4f µs per token estimated; %.0f driver launches per micro-step, %d graph replays (graphs %s); written to %s%n",
                b.inputs().length, MICRO_STEPS, profile.ratesName(), profile.launchesPerMicroStep(), profile.hostSyncsPerStep(),
                profile.estimatedMicrosPerToken(), profile.driverLaunchesPerMicroStep(), profile.graphReplays(), graphs ? "on" : "off", file);
        return profile;
    }

    /** One step as TrainStep runs it; with a profile, each part in its phase. */
    private static void step(Gpt gpt, Optimizers opt, Ops ops, Batch b, FiniteGuard guard, Tensor stats, long[] stepNo,
                             DeviceProfile p, boolean graphs) {
        phase(p, Phase.OTHER);
        if (opt == null) gpt.zeroGrads();
        ops.fill(stats, 0);
        Tensor lossSum = stats.view(TrainStep.LOSS, 1);
        phase(p, Phase.MICRO_STEP);
        for (int m = 0; m < MICRO_STEPS; m++) {
            if (m > 0) gpt.reuseWorkingCopies();
            Runnable micro = () -> gpt.forwardBackward(b.inputs(), b.targets(), b.cuSeqlens(), b.wsShort(), b.wsLong(), b.loss(),
                    b.mtpWeights(), 1.0 / MICRO_STEPS, lossSum);
            if (graphs) ops.backend().replayable(micro);
            else micro.run();
            if (p != null) p.endMicroStep(b.inputs().length);
        }
        phase(p, Phase.OTHER);
        guard.sumGradients(stats.view(TrainStep.GUARD, guard.slots()));
        if (opt != null) {
            phase(p, Phase.OPTIMIZER);
            opt.step(StepPlan.record(stepNo[0]++, 1.0, 0.95, Set.of()));
        }
        phase(p, Phase.OTHER);
        double[] s = HostData.toDoubles(stats);
        if (!Double.isFinite(s[TrainStep.LOSS])) throw new IllegalStateException("the profiled step's loss is " + s[TrainStep.LOSS]);
        guard.check((int) stepNo[0], s, TrainStep.GUARD);
        if (p != null) p.endStep();
    }

    private static void phase(DeviceProfile p, Phase ph) { if (p != null) p.phase(ph); }

    /** Σ over queries of the keys each attends to (causal, windowed, within its document), as the kernels iterate. */
    static double keysSeen(int[] cu, int window) {
        double s = 0;
        for (int d = 0; d + 1 < cu.length; d++)
            for (int q = cu[d]; q < cu[d + 1]; q++) s += q - Math.max(cu[d], q - window) + 1;
        return s;
    }
}
