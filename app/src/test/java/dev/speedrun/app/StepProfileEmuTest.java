package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.cuda.Kernel;
import dev.speedrun.kernels.DeviceProfile;
import dev.speedrun.kernels.DeviceProfile.Phase;
import dev.speedrun.kernels.cuda.emu.EmuLibrary;
import dev.speedrun.losses.LossFunctions;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.ParamSpec;
import dev.speedrun.model.Precision;
import dev.speedrun.optim.Optimizers;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench step --profile} on the emulated device, against independent counts: the launches
 * the emulator itself ran, the GEMM FLOPs of the model computed here from its parameter shapes
 * (6 · T · Σ GEMM weights: forward, and the backward's two products), and, with the record's
 * mixed precision and optimizers, at most one host wait per step. The model is the tiny preset:
 * the record's structure (11 layers, gates, value embeddings, windows, MTP) at the fixture's
 * sizes, so it runs in seconds on the emulator.
 */
class StepProfileEmuTest {
    @TempDir Path tmp;

    private static void requireEmu() {
        String why = EmuLibrary.problem(EmuLibrary.MAIN);
        assumeTrue(why.isEmpty(), why);
    }

    /** A batch of T random tokens in three documents, the windows as bench step chooses them. */
    private static StepProfiler.Batch batch(GptConfig cfg, int T) {
        SplittableRandom r = new SplittableRandom(T);
        int[] in = new int[T], tg = new int[T];
        for (int i = 0; i < T; i++) { in[i] = r.nextInt(cfg.vocabSize()); tg[i] = r.nextInt(cfg.vocabSize()); }
        int[] cu = {0, T / 3, T / 2, T};
        return new StepProfiler.Batch(in, tg, cu, 1, 3, LossFunctions.defaultLoss(), new double[] {1.0});
    }

    @Test void countsAgreeWithTheEmulatorAndTheModelsShapes() throws Exception {
        requireEmu();
        GptConfig cfg = GptConfig.preset("tiny");
        int T = 4 * cfg.blockSize() * 4;
        Ops ops = Kernels.ops("cuda-emu");
        EmuLibrary lib = EmuLibrary.main();
        Path file = tmp.resolve("profile.json");
        try (Gpt gpt = new Gpt(cfg, ops, Precision.MIXED, T, 1, 7)) {
            // a first run for the one-time work (the BF16 embedding-backward accumulator is zeroed on
            // its first use), so the counted run's warm-up and profiled step launch the same kernels
            StepProfiler.run(tmp.resolve("first.json"), gpt, null, ops, batch(cfg, T), new long[] {0}, false);
            // run() issues unobserved warm-up steps identical to the observed one (no optimizer: same launches)
            DeviceProfile p = profileCountedByTheEmulator(lib, file, gpt, ops, batch(cfg, T), false);

            long gemmWeights = 0;
            for (ParamSpec s : Gpt.specs(cfg, 1))
                if (s.label().equals("attn") || s.label().equals("mlp") || s.label().equals("lm_head")) gemmWeights += s.shape().numel();
            JsonNode j = new ObjectMapper().readTree(file.toFile());
            JsonNode micro = j.get("phases").get("micro_step");
            assertEquals(6.0 * T * gemmWeights, micro.get("families").get("cublaslt").get("flops").asDouble(), 1e-9 * T * gemmWeights);
            assertEquals(p.launchesPerMicroStep(), j.get("launches_per_micro_step").asDouble());
            assertEquals(micro.get("launches").asDouble(), j.get("launches_per_micro_step").asDouble());
            double familySum = 0;
            for (JsonNode f : micro.get("families")) familySum += f.get("launches").asDouble();
            assertEquals(micro.get("launches").asDouble(), familySum, "the families add up to the phase");
            assertEquals(0, micro.get("host_syncs").asDouble(), "no host wait inside a micro-step");
            assertEquals(1, j.get("host_syncs_per_step").asDouble(), "the one loss readback");
            assertEquals(0, j.get("f32_gemm_flop_fraction").asDouble(), "mixed precision: no F32 GEMM in the micro-steps");
            for (String key : new String[] {"fp8_gemm_flop_fraction", "estimated_us_per_token"})
                assertTrue(j.get(key).isNumber(), key + " in " + j);
            assertTrue(j.get("estimated_us_per_token").asDouble() > 0);
        }
    }

    @Test void theRecordsMixedPrecisionStepWaitsForTheDeviceAtMostOnce() {
        requireEmu();
        GptConfig cfg = GptConfig.preset("tiny");
        int T = 4 * cfg.blockSize() * 4;
        Ops ops = Kernels.ops("cuda-emu");
        try (Gpt gpt = new Gpt(cfg, ops, Precision.MIXED, T, 1, 7);
             Optimizers opt = RecordOptimizers.build(gpt, ops, Precision.MIXED)) {
            DeviceProfile p = StepProfiler.run(tmp.resolve("record.json"), gpt, opt, ops, batch(cfg, T), new long[] {0}, true);
            assertTrue(p.hostSyncsPerStep() <= 1, "host syncs per step: " + p.hostSyncsPerStep());
            assertTrue(p.launches(Phase.OPTIMIZER) > 0, "the optimizer step was profiled");
        }
    }

    /**
     * With CUDA graphs (bench step's default) the profiled step is the steady state: each micro-step
     * one graph launch, the kernels still all run (the emulator's own counts over the warm-up steps
     * and the profiled one are that many times the profiled launches), and the same launches and
     * estimate are profiled as without graphs; without graphs every launch is a driver launch.
     */
    @Test void withGraphsEachMicroStepIsOneDriverLaunch() throws Exception {
        requireEmu();
        GptConfig cfg = GptConfig.preset("tiny");
        int T = 4 * cfg.blockSize() * 4;
        Ops ops = Kernels.ops("cuda-emu");
        EmuLibrary lib = EmuLibrary.main();
        try (Gpt gpt = new Gpt(cfg, ops, Precision.MIXED, T, 1, 7)) {
            DeviceProfile eager = StepProfiler.run(tmp.resolve("eager.json"), gpt, null, ops, batch(cfg, T), new long[] {0}, false);
            assertEquals(eager.launchesPerMicroStep(), eager.driverLaunchesPerMicroStep(), "no graphs: every launch goes to the driver");
            assertEquals(0, eager.graphReplays());
            Path file = tmp.resolve("graphs.json");
            DeviceProfile p = profileCountedByTheEmulator(lib, file, gpt, ops, batch(cfg, T), true);
            assertEquals(eager.launchesPerMicroStep(), p.launchesPerMicroStep(), "graphs change what is sent, not what runs");
            assertEquals(eager.estimatedMicrosPerToken(), p.estimatedMicrosPerToken(), 1e-12 * eager.estimatedMicrosPerToken());
            assertEquals(1, p.driverLaunchesPerMicroStep(), "each micro-step replayed as one graph");
            assertEquals(StepProfiler.MICRO_STEPS, p.graphReplays());
            JsonNode j = new ObjectMapper().readTree(file.toFile());
            assertEquals(1, j.get("driver_launches_per_micro_step").asDouble());
            assertEquals(StepProfiler.MICRO_STEPS, j.get("graph_replays").asLong());
            assertEquals(0, j.get("graph_captures").asLong(), "captured in the warm-up steps");
            JsonNode micro = j.get("phases").get("micro_step");
            assertEquals(1, micro.get("graph_launches").asDouble());
            assertEquals(0, micro.get("eager_launches").asDouble());
        }
    }

    /**
     * Profiles a step (no optimizer) into {@code file} and checks its launches against what the
     * emulator itself counted running: the kernels and cuBLASLt calls of the warm-up steps and the
     * profiled one, all alike, with graphs or without (a replayed graph still runs every kernel).
     */
    private static DeviceProfile profileCountedByTheEmulator(EmuLibrary lib, Path file, Gpt gpt, Ops ops, StepProfiler.Batch b,
                                                             boolean graphs) {
        Map<Kernel, Long> before = counts(lib);
        double cublasBefore = lib.cublasLtCounts()[0];
        DeviceProfile p = StepProfiler.run(file, gpt, null, ops, b, new long[] {0}, graphs);
        long emu = 0;
        Map<Kernel, Long> after = counts(lib);
        for (Kernel k : Kernel.values()) emu += after.get(k) - before.get(k);
        emu += Math.round(lib.cublasLtCounts()[0] - cublasBefore);
        long observed = 0;
        for (Phase ph : Phase.values()) observed += p.launches(ph);
        assertEquals(emu, (StepProfiler.WARMUP_STEPS + 1) * observed,
                "launches the emulator ran over the warm-up steps and the profiled one (graphs " + (graphs ? "on" : "off") + ")");
        return p;
    }

    private static Map<Kernel, Long> counts(EmuLibrary lib) {
        Map<Kernel, Long> m = new EnumMap<>(Kernel.class);
        for (Kernel k : Kernel.values()) m.put(k, lib.launchCount(k.cName()));
        return m;
    }
}
