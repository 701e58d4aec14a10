package dev.speedrun.app.gpu;

import dev.speedrun.kernels.Ops;

/**
 * The 20 training steps of {@link TrainingGpuTest} in the record's mixed precision on the
 * emulated CUDA device (every kernel, cuBLASLt call and optimizer step of the CUDA path on the
 * CPU) against CPU F32, by the same agreement criteria as on a GPU.
 */
class TrainingEmuTest extends TrainingGpuTest {
    @Override Ops ops() { return GpuModelSupport.emuOrSkip(); }


    /** Not repeated here: F32 on the emulated device is covered by FixtureLossesEmuTest and DistributedTrainingTest. */
    @Override void f32OnGpuFollowsF32OnCpu() {}
}
