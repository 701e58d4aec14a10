package dev.speedrun.kernels.cuda.emu;

import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.OpsProvider;
import dev.speedrun.kernels.cuda.CudaOps;
import dev.speedrun.tensor.Backend;

/**
 * ServiceLoader entry "cuda-emu": the CUDA backend's own {@link CudaOps} on an emulated device
 * ({@link EmuDevice}, options from the {@code speedrun.cuda.emu.*} system properties), so the whole
 * CUDA path of train, loss and bench runs on a machine without a GPU.
 */
public final class EmuOpsProvider implements OpsProvider {
    @Override public String backend() { return EmuBackend.NAME; }

    @Override public Ops create(Backend backend) {
        if (!(backend instanceof EmuBackend emu))
            throw new IllegalArgumentException("emulated CUDA ops need the cuda-emu backend, got " + backend.name());
        return new CudaOps(new EmuDevice(emu, EmuDevice.Options.fromSystemProperties()));
    }
}
