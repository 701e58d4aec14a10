package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.speedrun.kernels.cuda.LaunchQueue;
import dev.speedrun.kernels.cuda.emu.EmuBackend;
import dev.speedrun.kernels.cuda.emu.EmuLibrary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CUDA graphs through the trainer ({@link TrainStep} runs each micro-step as a replayable region):
 * the tiny run on cuda-emu with graphs on gives the run with graphs off bit for bit — train loss of
 * every step, and the final checkpoint's model and optimizer files byte for byte — in F32 and in
 * the record's mixed precision, and its micro-steps were replayed as graphs. With the MTP plugin
 * the multi-token weights change every step (a kernel scalar of the loss), so a step's micro-steps
 * never match an earlier step's (only the later micro-steps of a step replay): still the same
 * bits. Four micro-batches a step (the tiny run config otherwise). The emulator runs on one worker thread so
 * the embedding backward's atomics add in one order in both runs.
 */
class GraphTrainingEmuTest {
    @TempDir static Path tmp;
    static Path config;
    static final int STEPS = 4;

    @BeforeAll static void corpus() throws Exception {
        assumeTrue(EmuLibrary.problem(EmuLibrary.MAIN).isEmpty(), EmuLibrary.problem(EmuLibrary.MAIN));
        Path base = TinyRunConfig.write(tmp, 13, 0);
        // four micro-batches a step: in mixed precision the first refreshes the BF16 working copies,
        // the second to fourth are identical (seen, captured, replayed) whatever the schedule does
        String yaml = Files.readString(base);
        assertTrue(yaml.contains("micro_batches: 2"), yaml);
        config = Files.writeString(tmp.resolve("tiny-graphs.yaml"), yaml.replace("micro_batches: 2", "micro_batches: 4"));
    }

    /** A finished run: its losses, its final checkpoint, and the graph launches it made. */
    record Run(List<Double> losses, Path checkpoint, LaunchQueue.Stats graphs) {}

    static Run train(String name, String precision, boolean graphs, List<String> plugins) throws Exception {
        String oldGraphs = System.getProperty(LaunchQueue.PROPERTY), oldWorkers = System.getProperty("speedrun.cuda.emu.workers");
        System.setProperty(LaunchQueue.PROPERTY, Boolean.toString(graphs));
        System.setProperty("speedrun.cuda.emu.workers", "1");
        try {
            LaunchQueue.Stats before = LaunchQueue.processTotals();
            TrainCommand c = TinyRunConfig.command(config, tmp.resolve(name), plugins, STEPS);
            c.backend = EmuBackend.NAME;
            c.precision = precision;
            assertEquals(0, c.call());
            LaunchQueue.Stats after = LaunchQueue.processTotals();
            List<Double> losses = TinyRunConfig.trainLosses(c);
            assertEquals(STEPS, losses.size(), "train losses in " + c.lastResult.metrics());
            return new Run(losses, c.lastResult.checkpoint(), new LaunchQueue.Stats(after.graphLaunches() - before.graphLaunches(),
                    after.graphCaptures() - before.graphCaptures(), after.eagerLaunches() - before.eagerLaunches(), 0, 0, 0));
        } finally {
            restore(LaunchQueue.PROPERTY, oldGraphs);
            restore("speedrun.cuda.emu.workers", oldWorkers);
        }
    }

    private static void restore(String key, String value) {
        if (value == null) System.clearProperty(key);
        else System.setProperty(key, value);
    }

    static void assertSameRun(Run off, Run on, String what) throws Exception {
        assertEquals(off.losses(), on.losses(), what + ": train losses per step, graphs on against off");
        for (String f : new String[] {"model.safetensors", "optimizer.safetensors"})
            assertEquals(-1, Files.mismatch(off.checkpoint().resolve(f), on.checkpoint().resolve(f)), what + ": " + f + " differs");
        assertEquals(0, off.graphs().graphLaunches(), what + ": graphs off launched a graph");
    }

    @Test void graphsOnTrainTheSameBitsAsGraphsOffAndReplayTheMicroSteps() throws Exception {
        for (String precision : new String[] {"f32", "mixed"}) {
            List<String> plugins = List.of("untie", "cwd");
            Run off = train("off-" + precision, precision, false, plugins), on = train("on-" + precision, precision, true, plugins);
            assertSameRun(off, on, precision);
            assertTrue(on.graphs().graphCaptures() > 0, precision + ": micro-steps captured");
            assertTrue(on.graphs().graphLaunches() > on.graphs().graphCaptures(),
                    precision + ": cached micro-steps replayed beyond the launch after each capture: " + on.graphs());
            assertTrue(on.graphs().eagerLaunches() < off.graphs().eagerLaunches(), precision + ": fewer launches sent one by one");
        }
    }

    @Test void mtpWeightsChangingEveryStepStillGiveTheSameBits() throws Exception {
        List<String> plugins = List.of("mtp", "untie", "cwd", "adam-cwd-strict");
        assertSameRun(train("mtp-off", "mixed", false, plugins), train("mtp-on", "mixed", true, plugins), "mtp, mixed");
    }
}
