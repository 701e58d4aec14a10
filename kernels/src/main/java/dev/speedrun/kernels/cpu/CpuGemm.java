package dev.speedrun.kernels.cpu;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * Plain CPU matrix multiply: {@code out = alpha·op(a)·op(b) + beta·out}, 2-D or 3-D strided batch,
 * F32/F64/BF16 operands, accumulation in double. Loops are i-k-j (or row·row dot products when b
 * is transposed) so that the inner loop walks memory contiguously; rows run in parallel.
 * A cache-blocked SIMD version with the same signature replaces this one where it is faster.
 */
public final class CpuGemm {
    private CpuGemm() {}

    /**
     * Same contract as {@link dev.speedrun.kernels.Ops#matmul}.
     * @param out [M,N] or [B,M,N]; must not overlap a or b
     * @param a   [M,K] ([K,M] if transA), batched like out
     * @param b   [K,N] ([N,K] if transB), batched like out
     */
    public static void matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta) {
        int rank = out.rank();
        if (rank != 2 && rank != 3)
            throw new IllegalArgumentException("matmul: out must be [M,N] or [B,M,N], got " + out.shape());
        if (a.rank() != rank || b.rank() != rank)
            throw new IllegalArgumentException("matmul: a " + a.shape() + ", b " + b.shape() + " and out " + out.shape() + " must have the same rank (2 or 3)");
        for (Tensor t : new Tensor[] {out, a, b}) {
            DType d = t.dtype();
            if (d != DType.F32 && d != DType.F64 && d != DType.BF16)
                throw new IllegalArgumentException("matmul: operands must be F32, F64 or BF16, got " + t);
        }
        int batch = rank == 3 ? out.size(0) : 1;
        int M = out.size(-2), N = out.size(-1);
        int K = transA ? a.size(-2) : a.size(-1);
        int aM = transA ? a.size(-1) : a.size(-2);
        int bK = transB ? b.size(-1) : b.size(-2);
        int bN = transB ? b.size(-2) : b.size(-1);
        boolean batchOk = rank == 2 || (a.size(0) == batch && b.size(0) == batch);
        if (aM != M || bN != N || bK != K || !batchOk)
            throw new IllegalArgumentException("matmul: shapes do not match: out " + out.shape() + ", a " + a.shape()
                    + (transA ? "ᵀ" : "") + ", b " + b.shape() + (transB ? "ᵀ" : "")
                    + " (want out [B?,M,N], op(a) [B?,M,K], op(b) [B?,K,N])");
        if (out.numel() == 0) return;
        MemorySegment os = out.segment(), as = a.segment(), bs = b.segment();
        DType od = out.dtype(), ad = a.dtype(), bd = b.dtype();
        long aStride = (long) M * K, bStride = (long) K * N, oStride = (long) M * N;
        Par.forEach(batch * M, (long) K * N, row -> {
            int bi = row / M, i = row % M;
            long aOff = bi * aStride, bOff = bi * bStride, oOff = bi * oStride + (long) i * N;
            double[] acc = Scratch.doubles(0, N);
            if (!transB) {
                java.util.Arrays.fill(acc, 0, N, 0.0);
                for (int k = 0; k < K; k++) {
                    double aik = Acc.get(as, ad, aOff + (transA ? (long) k * M + i : (long) i * K + k));
                    long bRow = bOff + (long) k * N;
                    for (int j = 0; j < N; j++) acc[j] += aik * Acc.get(bs, bd, bRow + j);
                }
            } else {
                double[] arow = Scratch.doubles(1, K);
                for (int k = 0; k < K; k++) arow[k] = Acc.get(as, ad, aOff + (transA ? (long) k * M + i : (long) i * K + k));
                for (int j = 0; j < N; j++) {
                    long bRow = bOff + (long) j * K;
                    double s = 0;
                    for (int k = 0; k < K; k++) s += arow[k] * Acc.get(bs, bd, bRow + k);
                    acc[j] = s;
                }
            }
            for (int j = 0; j < N; j++) {
                double v = alpha * acc[j];
                if (beta != 0) v += beta * Acc.get(os, od, oOff + j);
                Acc.set(os, od, oOff + j, v);
            }
        });
    }
}
