package dev.speedrun.kernels.cuda;

import dev.speedrun.tensor.Tensor;

/**
 * Sizes of a row-major {@code out[M,N] = op(a)·op(b)} (optionally batched on a leading dimension),
 * validated against all three tensors' shapes.
 */
public record GemmShape(long batch, long m, long n, long k) {
    public static GemmShape of(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB) {
        int r = out.rank();
        if ((r != 2 && r != 3) || a.rank() != r || b.rank() != r)
            throw new IllegalArgumentException("matmul takes three 2-D or three 3-D tensors, got out " + out.shape()
                    + ", a " + a.shape() + ", b " + b.shape());
        long batch = r == 3 ? out.dim(0) : 1;
        if (r == 3 && (a.dim(0) != batch || b.dim(0) != batch))
            throw new IllegalArgumentException("matmul batch sizes differ: out " + out.shape() + ", a " + a.shape() + ", b " + b.shape());
        long m = out.dim(r - 2), n = out.dim(r - 1);
        long am = transA ? a.dim(r - 1) : a.dim(r - 2), ak = transA ? a.dim(r - 2) : a.dim(r - 1);
        long bk = transB ? b.dim(r - 1) : b.dim(r - 2), bn = transB ? b.dim(r - 2) : b.dim(r - 1);
        if (am != m || bn != n || ak != bk)
            throw new IllegalArgumentException("matmul shapes do not fit: out " + out.shape() + ", a " + a.shape()
                    + (transA ? "ᵀ" : "") + ", b " + b.shape() + (transB ? "ᵀ" : ""));
        return new GemmShape(batch, m, n, ak);
    }
}
