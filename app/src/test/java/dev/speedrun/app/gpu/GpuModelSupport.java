package dev.speedrun.app.gpu;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.cuda.CudaBackend;
import dev.speedrun.kernels.cuda.KernelResources;
import dev.speedrun.model.GptConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Shared pieces of the model-level GPU tests: the device check (skip with its reason) and fixtures. */
final class GpuModelSupport {
    private GpuModelSupport() {}

    /** The CUDA ops, or skips the calling test with the reason no GPU is usable. */
    static Ops cudaOrSkip() {
        CudaBackend.Probe p = CudaBackend.probe();
        assumeTrue(p.ok(), "no usable GPU: " + p.reason());
        assumeTrue(KernelResources.built(), KernelResources.missingReason());
        return Kernels.ops(CudaBackend.NAME);
    }

    /** The CUDA ops on the emulated device (the same kernels on the CPU), or skips when the build has none. */
    static Ops emuOrSkip() {
        String why = dev.speedrun.kernels.cuda.emu.EmuLibrary.problem(dev.speedrun.kernels.cuda.emu.EmuLibrary.MAIN);
        assumeTrue(why.isEmpty(), "no emulated CUDA device: " + why);
        return Kernels.ops(dev.speedrun.kernels.cuda.emu.EmuBackend.NAME);
    }

    static Path fixtures() {
        String dir = System.getProperty("fixtures.dir");
        if (dir == null) throw new IllegalStateException("system property fixtures.dir is not set (the parent pom sets it)");
        Path p = Path.of(dir);
        if (!Files.isDirectory(p)) throw new IllegalStateException("fixtures folder " + p.toAbsolutePath() + " is missing");
        return p;
    }

    static JsonNode json(String name) {
        Path f = fixtures().resolve(name);
        try {
            return new ObjectMapper().readTree(f.toFile());
        } catch (IOException e) {
            throw new IllegalStateException("cannot read fixture " + f + ": " + e.getMessage(), e);
        }
    }

    static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
        return r;
    }

    static double[] doubles(JsonNode a) {
        double[] r = new double[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asDouble();
        return r;
    }

    /** The fixture's model config with the record's layer structure (as the model tests build it). */
    static GptConfig config(JsonNode c) {
        return GptConfig.withSizes(c.get("vocab_size").asInt(), c.get("num_layers").asInt(), c.get("num_heads").asInt(),
                c.get("head_dim").asInt(), c.get("model_dim").asInt(), c.get("block_size").asInt(), c.get("gate_input_dims").asInt());
    }
}
