package dev.speedrun.app.gpu;

import dev.speedrun.kernels.Ops;
import dev.speedrun.model.GptConfig;

/**
 * The 20 training steps of {@link TrainingGpuTest} in the record's mixed precision on the
 * emulated CUDA device (every kernel, cuBLASLt call and optimizer step of the CUDA path on the
 * CPU) against CPU F32, by the same agreement criteria as on a GPU.
 */
class TrainingEmuTest extends TrainingGpuTest {
    @Override Ops ops() { return GpuModelSupport.emuOrSkip(); }


    /**
     * The "tiny" preset on twice the tokens: the emulator runs every CUDA thread as a fiber, so CI
     * time needs a small model (cpu-small takes minutes here).
     */
    @Override GptConfig config() { return GptConfig.preset("tiny"); }

    @Override int tokens() { return 2 * T; }

    @Override @org.junit.jupiter.api.Test @org.junit.jupiter.api.Timeout(value = 480, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
    void mixedOnGpuFollowsF32OnCpu() { super.mixedOnGpuFollowsF32OnCpu(); }

    /** Not repeated here: F32 on the emulated device is covered by FixtureLossesEmuTest and DistributedTrainingTest. */
    @Override void f32OnGpuFollowsF32OnCpu() {}
}
