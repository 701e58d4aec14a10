package dev.speedrun.kernels.cpu;

import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.OpsProvider;
import dev.speedrun.tensor.Backend;

/** Registers {@link CpuOps} for the "cpu" backend. */
public final class CpuOpsProvider implements OpsProvider {
    @Override public String backend() { return "cpu"; }

    @Override public Ops create(Backend backend) {
        if (!backend.name().equalsIgnoreCase("cpu"))
            throw new IllegalArgumentException("CpuOpsProvider serves backend 'cpu', not '" + backend.name() + "'");
        return new CpuOps(backend);
    }

    @Override public String describe() { return "cpu gemm: " + CpuGemm.describe(); }
}
