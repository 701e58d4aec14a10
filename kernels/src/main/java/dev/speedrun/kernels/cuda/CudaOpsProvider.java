package dev.speedrun.kernels.cuda;

import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.OpsProvider;
import dev.speedrun.tensor.Backend;

/** ServiceLoader entry: {@link CudaOps} on the device of a {@link CudaBackend}. */
public final class CudaOpsProvider implements OpsProvider {
    @Override public String backend() { return CudaBackend.NAME; }

    @Override public Ops create(Backend backend) {
        if (!(backend instanceof CudaBackend cuda))
            throw new IllegalArgumentException("CUDA ops need the cuda backend, got " + backend.name());
        return new CudaOps(cuda.device());
    }
}
