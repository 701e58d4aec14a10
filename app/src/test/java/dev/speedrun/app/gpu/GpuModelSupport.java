package dev.speedrun.app.gpu;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.model.GptConfig;
import dev.speedrun.testsupport.Gpu;

/** Shared pieces of the model-level GPU tests: the device check (skip with its reason) and fixtures. */
final class GpuModelSupport {
    private GpuModelSupport() {}

    /** The backend the model GPU tests run on. */
    static final String CUDA = "cuda";

    /** The CUDA ops, or skips the calling test with the reason no GPU is usable. */
    static Ops cudaOrSkip() {
        Gpu.usableOrSkip(CUDA);
        return Kernels.ops(CUDA);
    }

    /** The CUDA ops on the emulated device (the same kernels on the CPU), or skips when the build has none. */
    static Ops emuOrSkip() {
        String why = dev.speedrun.kernels.cuda.emu.EmuLibrary.problem(dev.speedrun.kernels.cuda.emu.EmuLibrary.MAIN);
        assumeTrue(why.isEmpty(), "no emulated CUDA device: " + why);
        return Kernels.ops(dev.speedrun.kernels.cuda.emu.EmuBackend.NAME);
    }

    /** The fixture's model config with the record's layer structure (as the model tests build it). */
    static GptConfig config(JsonNode c) {
        return GptConfig.withSizes(c.get("vocab_size").asInt(), c.get("num_layers").asInt(), c.get("num_heads").asInt(),
                c.get("head_dim").asInt(), c.get("model_dim").asInt(), c.get("block_size").asInt(), c.get("gate_input_dims").asInt());
    }
}
