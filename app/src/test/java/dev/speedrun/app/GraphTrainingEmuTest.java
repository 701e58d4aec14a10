package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.cuda.CudaOps;
import dev.speedrun.kernels.cuda.LaunchQueue;
import dev.speedrun.kernels.cuda.emu.EmuBackend;
import dev.speedrun.kernels.cuda.emu.EmuDevice;
import dev.speedrun.kernels.cuda.emu.EmuLibrary;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.losses.LossFunctions;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.Parameter;
import dev.speedrun.model.Precision;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.optim.StepPlan;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CUDA graphs in training, on cuda-emu: steps structured as {@link TrainStep} runs them (the loss
 * sum zeroed, {@value #MICRO} micro-steps each a replayable region after its uploads, the record's
 * optimizers, one loss readback) with graphs on give the steps with graphs off bit for bit — the
 * loss of every step and every parameter after the last — in F32 and in the record's mixed
 * precision, and the micro-steps are replayed. The mixed runs change the multi-token weights every
 * step as the MTP schedule does; the loss kernel reads them through a device buffer, so the
 * micro-steps of later steps still match the earlier ones and replay, with the same bits. Then the
 * trainer itself (TrainStep's regions) on the tiny run config: same losses and checkpoint bytes, and
 * micro-steps captured. The emulator runs on one worker thread, so the embedding backward's atomics
 * add in one order in every run. Sizes from the tiny preset (the record's structure at the
 * fixture's sizes).
 */
class GraphTrainingEmuTest {
    @TempDir Path tmp;
    static final int STEPS = 3, MICRO = 4;

    private static void requireEmu() { assumeTrue(EmuLibrary.problem(EmuLibrary.MAIN).isEmpty(), EmuLibrary.problem(EmuLibrary.MAIN)); }

    /** Losses per step, every parameter's values after the last step, and the device's graph counts. */
    record Run(double[] losses, List<double[]> params, LaunchQueue.Stats graphs) {}

    static Run steps(Precision precision, boolean graphs, boolean changingMtp) {
        EmuDevice device = new EmuDevice(new EmuBackend(), new EmuDevice.Options(EmuDevice.Order.IN_ORDER, true, 1, 1, 90));
        device.launchQueue().setEnabled(graphs);
        Ops ops = new CudaOps(device);
        GptConfig cfg = GptConfig.preset("tiny");
        int T = 4 * cfg.blockSize() * 4;
        LossFunction loss = LossFunctions.defaultLoss();
        double[] losses = new double[STEPS];
        List<double[]> params = new ArrayList<>();
        try (Gpt gpt = new Gpt(cfg, ops, precision, T, 1, 11);
             Optimizers opt = RecordOptimizers.build(gpt, ops, precision);
             MemoryArena arena = ops.backend().newArena()) {
            opt.zeroAllGrads();
            Tensor lossSum = arena.allocate(gpt.precision().statistics(), 1);
            SplittableRandom r = new SplittableRandom(3);
            for (int s = 0; s < STEPS; s++) {
                double[] mtp = changingMtp ? new double[] {1.0, 0.5 / (s + 1)} : new double[] {1.0};
                ops.fill(lossSum, 0);
                for (int m = 0; m < MICRO; m++) {
                    int[] in = new int[T], tg = new int[T];
                    for (int i = 0; i < T; i++) { in[i] = r.nextInt(cfg.vocabSize()); tg[i] = r.nextInt(cfg.vocabSize()); }
                    int[] cu = {0, T / 3, T};
                    if (m > 0) gpt.reuseWorkingCopies();
                    ops.backend().replayable(() -> gpt.forwardBackward(in, tg, cu, 1, 3, loss, mtp, 1.0 / MICRO, lossSum));
                }
                opt.step(StepPlan.record(s, 1.0, 0.95, Set.of()));
                losses[s] = HostData.scalar(lossSum);
            }
            for (Parameter p : gpt.parameters()) params.add(HostData.toDoubles(p.value()));
        }
        LaunchQueue.Stats st = device.graphStats();
        device.close();
        return new Run(losses, params, st);
    }

    static void assertSame(Run off, Run on, String what) {
        assertArrayEquals(off.losses(), on.losses(), what + ": loss per step, graphs on against off");
        for (int i = 0; i < off.params().size(); i++)
            assertArrayEquals(off.params().get(i), on.params().get(i), what + ": parameter " + i + " after the last step");
        assertEquals(0, off.graphs().graphLaunches(), what + ": graphs off launched a graph");
    }

    @Test void f32AndMixedStepsWithGraphsGiveTheSameBitsAndReplayTheMicroSteps() {
        requireEmu();
        Run off = steps(Precision.uniform(DType.F32), false, false), on = steps(Precision.uniform(DType.F32), true, false);
        assertSame(off, on, "f32");
        // The micro-batches' inputs alternate between the model's two input sets (A, B: the uploads are
        // double-buffered), and the loss kernel's MTP weights are uploaded (a flush) only when they change.
        // F32, weights constant: step 0's first micro-step splits at the weights' first upload (two
        // segments seen once), then B, A seen once, B seen twice: captured and launched; from step 1 on
        // every micro-step is a whole A or B: A captured at step 1's first, then all replayed.
        assertEquals((long) STEPS * MICRO - 3, on.graphs().graphLaunches(), "f32: micro-steps replayed: " + on.graphs());
        assertEquals(2, on.graphs().graphCaptures(), "f32: one graph per input set " + on.graphs());

        Run mOff = steps(Precision.MIXED, false, true), mOn = steps(Precision.MIXED, true, true);
        assertSame(mOff, mOn, "mixed, MTP weights changing every step");
        // Mixed: each step's first micro-step refreshes the working copies and uploads the step's new
        // weights, so it is two segments (up to the loss, then the loss and the backward), the same in
        // every step (the weights are read through a pointer) but for step 0's second one, which also
        // zeroes the BF16 embedding backward's accumulator once; then B, A (no refresh), B. Step 0: only
        // its B seen twice is launched; step 1: all but the first micro-step's second segment (seen for
        // the first time) replay, captured there; from step 2 on all five segments of a step replay.
        assertEquals(1 + 4 + 5L * (STEPS - 2), mOn.graphs().graphLaunches(), "mixed: launched graphs " + mOn.graphs());
        assertEquals(4, mOn.graphs().graphCaptures(), "mixed: B; A's first segment and A at step 1; A's second at step 2 " + mOn.graphs());
    }

    @Test void theTrainerRunsItsMicroStepsAsRegions() throws Exception {
        requireEmu();
        Path base = TinyRunConfig.write(tmp, 13, 0);
        String yaml = Files.readString(base);
        assertTrue(yaml.contains("micro_batches: 2"), yaml);
        // four micro-batches (validation needs a divisor of 128): the first step's first splits at its first
        // allocations, the second is seen, the third captured, the fourth replayed
        Path config = Files.writeString(tmp.resolve("tiny-graphs.yaml"), yaml.replace("micro_batches: 2", "micro_batches: 4"));
        List<Object> off = trainer(config, "off", false), on = trainer(config, "on", true);
        assertEquals(off.get(0), on.get(0), "train losses per step, graphs on against off");
        for (String f : new String[] {"model.safetensors", "optimizer.safetensors"})
            assertEquals(-1, Files.mismatch(((Path) off.get(1)).resolve(f), ((Path) on.get(1)).resolve(f)), f + " differs");
        assertEquals(0L, off.get(2), "graphs off captured nothing");
        assertTrue((Long) on.get(2) > 0, "TrainStep's micro-steps were captured");
        assertEquals(1, ((List<?>) on.get(0)).size(), "one step trained");
    }

    /** {train losses, final checkpoint, graphs captured} of the first F32 step of the tiny run on cuda-emu. */
    private List<Object> trainer(Path config, String name, boolean graphs) throws Exception {
        String oldGraphs = System.getProperty(LaunchQueue.PROPERTY), oldWorkers = System.getProperty("speedrun.cuda.emu.workers");
        System.setProperty(LaunchQueue.PROPERTY, Boolean.toString(graphs));
        System.setProperty("speedrun.cuda.emu.workers", "1");
        try {
            long before = LaunchQueue.processTotals().graphCaptures();
            TrainCommand c = TinyRunConfig.command(config, tmp.resolve(name), List.of(), 1);
            c.backend = EmuBackend.NAME;
            c.precision = "f32";
            assertEquals(0, c.call());
            return List.of(TinyRunConfig.trainLosses(c), c.lastResult.checkpoint(), LaunchQueue.processTotals().graphCaptures() - before);
        } finally {
            restore(LaunchQueue.PROPERTY, oldGraphs);
            restore("speedrun.cuda.emu.workers", oldWorkers);
        }
    }

    private static void restore(String key, String value) {
        if (value == null) System.clearProperty(key);
        else System.setProperty(key, value);
    }
}
