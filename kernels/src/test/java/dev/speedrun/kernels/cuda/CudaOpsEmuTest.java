package dev.speedrun.kernels.cuda;

import dev.speedrun.kernels.cuda.emu.EmuDevice;

/**
 * The GPU op suite ({@link CudaOpsGpuTest}: every op's CUDA kernel against the CPU ops, F32 and
 * BF16, outputs NaN-poisoned first) on the emulated CUDA device: the very .cu kernels, compiled by
 * g++, through the very {@link CudaOps}, with strict barriers. Runs wherever the build had g++.
 */
class CudaOpsEmuTest extends CudaOpsGpuTest {
    @Override GpuTestSupport open(long seed) { return GpuTestSupport.openEmu(seed, EmuDevice.Options.DEFAULT); }
}
