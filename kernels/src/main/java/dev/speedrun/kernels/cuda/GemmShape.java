package dev.speedrun.kernels.cuda;

import dev.speedrun.kernels.OpContract;
import dev.speedrun.tensor.Tensor;

/**
 * Sizes of a row-major {@code out[M,N] = op(a)·op(b)} (optionally batched on a leading dimension),
 * validated against all three tensors' shapes.
 */
public record GemmShape(long batch, long m, long n, long k) {
    /** The sizes {@link OpContract#matmul} checks and returns, for the GEMM planners of this package. */
    public static GemmShape of(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB) {
        OpContract.Matmul s = OpContract.matmul(out, a, b, transA, transB);
        return new GemmShape(s.batch(), s.m(), s.n(), s.k());
    }
}
