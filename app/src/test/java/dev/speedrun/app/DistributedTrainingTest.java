package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.speedrun.kernels.cuda.CudaBackend;
import dev.speedrun.kernels.cuda.CudaRanks;
import dev.speedrun.testsupport.Gpu;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * N ranks train what 1 rank trains (spec §6: the batch is split over the ranks, gradients and
 * losses are reduced): 3 steps of a tiny model, train losses per step compared.
 */
class DistributedTrainingTest {
    @TempDir static Path tmp;
    static Path config;

    @BeforeAll static void corpus() throws Exception {
        config = TinyRunConfig.write(tmp, 11, 0);
    }

    static TrainCommand command(String out, String backend, int world, int steps) {
        TrainCommand c = TinyRunConfig.command(config, tmp.resolve(out), List.of("mtp", "untie", "cwd", "adam-cwd-strict"), steps);
        c.backend = backend;
        c.worldSize = world;
        return c;
    }

    /** Train losses of steps 1..3 (metrics.jsonl) of a run on {@code backend} with {@code world} ranks. */
    static List<Double> trainLosses(String backend, int world) throws Exception { return trainLosses(backend, world, null); }

    static List<Double> trainLosses(String backend, int world, String precision) throws Exception {
        TrainCommand c = command(backend + "-" + world + "-" + precision, backend, world, 3);
        c.precision = precision;
        assertEquals(0, c.call());
        List<Double> out = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(c.lastResult.metrics())) {
            var n = json.readTree(line);
            if (!n.get("train_loss").isNull()) out.add(n.get("train_loss").asDouble());
        }
        assertEquals(3, out.size(), "train losses of 3 steps in " + c.lastResult.metrics());
        return out;
    }

    static void assertClose(List<Double> expected, List<Double> actual, double relTol, String what) {
        for (int i = 0; i < expected.size(); i++) {
            double e = expected.get(i), a = actual.get(i);
            assertTrue(Double.isFinite(a), what + ": step " + (i + 1) + " loss " + a);
            assertEquals(e, a, relTol * Math.abs(e), what + ": train loss of step " + (i + 1) + " (1 rank " + e + ", got " + a + ")");
        }
    }

    @Test void twoCpuRanksTrainWhatOneTrains() throws Exception {
        assertClose(trainLosses("cpu", 1), trainLosses("cpu", 2), 1e-5, "cpu, 2 ranks vs 1");
    }

    @Test @Tag("gpu") void cudaRanksWithNcclTrainWhatOneGpuTrains() throws Exception {
        Gpu.usableOrSkip(CudaBackend.NAME);
        CudaBackend.Probe p = CudaBackend.probe();
        int world = Math.min(2, p.deviceCount());
        if (world > 1) {
            String nccl = CudaRanks.ncclProblem();
            assumeTrue(nccl.isEmpty(), "skipped: " + world + " GPUs but no NCCL (" + nccl + ")");
        }
        // F32 on the GPU vs the CPU reference: same losses up to reduction-order rounding
        List<Double> one = trainLosses("cuda", 1, "f32");
        assertClose(trainLosses("cpu", 1, "f32"), one, 2e-3, "cuda f32 1 rank vs cpu");
        if (world > 1) {
            assertClose(one, trainLosses("cuda", world, "f32"), 2e-3, "cuda f32 " + world + " ranks (NCCL) vs 1");
            // the default on cuda: the record's mixed precision (BF16 activations round differently per split)
            assertClose(trainLosses("cuda", 1, "auto"), trainLosses("cuda", world, "auto"), 1e-2, "cuda mixed " + world + " ranks vs 1");
        }
    }

    /**
     * The whole CUDA path on the emulated device through the trainer: cuda-emu F32 against cpu F32
     * (1e-4: only summation order differs), and 2 emulated ranks (in-process collectives, one per
     * thread) against 1. (Mixed precision on the emulated device: FixtureLossesEmuTest, TrainingEmuTest.)
     */
    @Test @Tag("gpu") void emulatedCudaRanksTrainWhatOneTrains() throws Exception {
        String why = dev.speedrun.kernels.cuda.emu.EmuLibrary.problem(dev.speedrun.kernels.cuda.emu.EmuLibrary.MAIN);
        assumeTrue(why.isEmpty(), "skipped: no emulated CUDA device (" + why + ")");
        List<Double> one = trainLosses("cuda-emu", 1, "f32");
        assertClose(trainLosses("cpu", 1, "f32"), one, 1e-4, "cuda-emu f32 1 rank vs cpu");
        assertClose(one, trainLosses("cuda-emu", 2, "f32"), 1e-4, "cuda-emu f32 2 ranks vs 1");
    }

    /** The record's mixed precision through the trainer (CPU ops): F32 checkpoint files, bit-exact resume. */
    @Test void mixedPrecisionCheckpointsInF32AndResumesBitExactly() throws Exception {
        TrainCommand full = command("mixed-full", "cpu", 1, 2);
        full.precision = "mixed";
        assertEquals(0, full.call());
        TrainCommand half = command("mixed-half", "cpu", 1, 1);
        half.precision = "mixed";
        assertEquals(0, half.call());
        TrainCommand resume = command("ignored", "cpu", 1, 2);
        resume.resume = half.lastResult.runDir();
        resume.precision = "mixed";
        assertEquals(0, resume.call());
        assertTrue(Files.readString(full.lastResult.runDir().resolve("config.yaml")).contains("precision: mixed"));
        String header = Files.readString(full.lastResult.checkpoint().resolve("model.safetensors"), java.nio.charset.StandardCharsets.ISO_8859_1);
        assertTrue(header.contains("\"F32\"") && !header.contains("\"BF16\""), "mixed checkpoints are written in F32");
        for (String f : new String[] {"model.safetensors", "optimizer.safetensors", "grads-rank0.safetensors"})
            assertEquals(-1, Files.mismatch(full.lastResult.checkpoint().resolve(f), resume.lastResult.checkpoint().resolve(f)),
                    f + " differs after resume");
        assertTrue(Double.isFinite(full.lastResult.lastTrainLoss()));
        assertEquals(full.lastResult.lastTrainLoss(), resume.lastResult.lastTrainLoss());
    }
}
