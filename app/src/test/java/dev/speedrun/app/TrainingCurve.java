package dev.speedrun.app;

import dev.speedrun.kernels.Ops;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.losses.LossFunctions;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.Precision;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.optim.StepPlan;
import dev.speedrun.tensor.DType;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A few training steps of the model with the record's optimizers (NorMuon + Adam, docs/optim.md)
 * on synthetic batches, for comparing precisions and backends. Same seed → same initial values
 * (drawn on the host) and the same batches on every backend.
 *
 * <p>Batches: a fixed random permutation π of the first {@code min(V, 97)} token ids; each
 * micro-batch is a run t, π(t), π(π(t)), ... from a random start, cut into two documents, so a
 * model that learns the bigram map drives the loss down within a few steps.
 */
public final class TrainingCurve {
    private TrainingCurve() {}

    /** The curve of a device in the record's mixed precision and the CPU F32 reference from the same start. */
    public record MixedVsF32(double[] mixed, double[] cpuF32) {}

    /**
     * {@code steps} steps of {@code cfg} on {@code ops} in mixed precision (BF16 Adam moments, as
     * the record) and on the CPU in F32, seed 7; both curves printed, labelled {@code device}.
     */
    public static MixedVsF32 mixedAgainstCpuF32(Ops ops, String device, GptConfig cfg, int T, int steps) {
        double[] mixed = run(ops, Precision.MIXED, DType.F32, DType.BF16, cfg, T, steps, 7);
        double[] cpuF32 = run(dev.speedrun.kernels.Kernels.cpu(), Precision.uniform(DType.F32), DType.F32, DType.F32, cfg, T, steps, 7);
        String a = device + " mixed:", b = "CPU F32:";
        int w = Math.max(a.length(), b.length());
        System.out.println("[gpu] training curve " + String.format("%-" + w + "s ", a) + java.util.Arrays.toString(mixed));
        System.out.println("[gpu] training curve " + String.format("%-" + w + "s ", b) + java.util.Arrays.toString(cpuF32));
        return new MixedVsF32(mixed, cpuF32);
    }

    /** Mean loss per token of each step, {@code steps} steps of {@code T} tokens. */
    public static double[] run(Ops ops, Precision precision, DType optimizerState, DType adamState,
                               GptConfig cfg, int T, int steps, long seed) {
        LossFunction loss = LossFunctions.defaultLoss();
        int n = Math.min(cfg.vocabSize(), 97);
        int[] perm = new int[n];
        SplittableRandom pr = new SplittableRandom(seed ^ 0x5eedL);
        for (int i = 0; i < n; i++) perm[i] = i;
        for (int i = n - 1; i > 0; i--) { int j = pr.nextInt(i + 1); int t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
        int ws = Math.max(1, T / 4 / cfg.blockSize()), wl = Math.max(1, 3 * T / 4 / cfg.blockSize());
        double[] curve = new double[steps];
        try (Gpt gpt = new Gpt(cfg, ops, precision, T, 1, seed);
             Optimizers opt = RecordOptimizers.build(gpt, ops, optimizerState, adamState)) {
            opt.zeroAllGrads();
            SplittableRandom br = new SplittableRandom(seed + 1);
            for (int s = 0; s < steps; s++) {
                int[] seq = new int[T + 1];
                seq[0] = br.nextInt(n);
                for (int i = 1; i <= T; i++) seq[i] = perm[seq[i - 1]];
                int[] in = java.util.Arrays.copyOf(seq, T), tg = java.util.Arrays.copyOfRange(seq, 1, T + 1);
                int[] cu = {0, 1 + br.nextInt(T - 1), T};
                curve[s] = gpt.forwardBackward(in, tg, cu, ws, wl, loss, new double[] {1.0}, 1.0) / T;
                opt.step(StepPlan.record(s, 1.0, 0.95, Set.of()));
            }
        }
        return curve;
    }
}
