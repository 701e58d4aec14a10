package dev.speedrun.kernels.cuda;

import dev.speedrun.tensor.Tensor;

/** A vendor GEMM with the semantics of {@link dev.speedrun.kernels.Ops#matmul}. */
public interface Gemm {
    /**
     * Runs the GEMM when this implementation supports the dtypes and layout, returning false (doing
     * nothing) otherwise so the caller can use its fallback kernel.
     */
    boolean matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta);
}
