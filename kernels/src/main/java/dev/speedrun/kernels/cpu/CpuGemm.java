package dev.speedrun.kernels.cpu;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * Simple CPU matrix multiply: {@code out = alpha·op(a)·op(b) + beta·out}, 2-D or 3-D strided
 * batch, F32/F64/BF16 operands, accumulation in double. Tiles of a and b are copied to double
 * arrays (transposes resolved there) and multiplied in i-k-j order; tiles run in parallel.
 * A cache-blocked SIMD version with the same signature replaces this one where it is faster.
 */
public final class CpuGemm {
    private CpuGemm() {}

    /** Tile sizes: rows, columns and depth; the three double tiles fit in L2. */
    private static final int TM = 32, TN = 128, TK = 128;

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
        // Tasks are (batch, row tile, column tile); each converts A and B tiles to double arrays
        // per k tile and multiplies them in i-k-j order into a double accumulator tile.
        int mt = (M + TM - 1) / TM, nt = (N + TN - 1) / TN;
        Par.forEach(batch * mt * nt, (long) TM * TN * K, task -> {
            int bi = task / (mt * nt), rest = task % (mt * nt);
            int i0 = (rest / nt) * TM, j0 = (rest % nt) * TN;
            int mi = Math.min(TM, M - i0), nj = Math.min(TN, N - j0);
            long aOff = bi * aStride, bOff = bi * bStride, oOff = bi * oStride;
            double[] acc = Scratch.doubles(Scratch.TASK, TM * TN), at = Scratch.doubles(Scratch.TASK + 1, TM * TK),
                    bt = Scratch.doubles(Scratch.TASK + 2, TK * TN);
            java.util.Arrays.fill(acc, 0, mi * nj, 0.0);
            for (int k0 = 0; k0 < K; k0 += TK) {
                int kk = Math.min(TK, K - k0);
                for (int i = 0; i < mi; i++)
                    for (int k = 0; k < kk; k++) {
                        int gi = i0 + i, gk = k0 + k;
                        at[i * kk + k] = Acc.get(as, ad, aOff + (transA ? (long) gk * M + gi : (long) gi * K + gk));
                    }
                for (int k = 0; k < kk; k++)
                    for (int j = 0; j < nj; j++) {
                        int gk = k0 + k, gj = j0 + j;
                        bt[k * nj + j] = Acc.get(bs, bd, bOff + (transB ? (long) gj * K + gk : (long) gk * N + gj));
                    }
                for (int i = 0; i < mi; i++) {
                    int ao = i * kk, co = i * nj;
                    for (int k = 0; k < kk; k++) {
                        double aik = at[ao + k];
                        int bo = k * nj;
                        for (int j = 0; j < nj; j++) acc[co + j] += aik * bt[bo + j];
                    }
                }
            }
            for (int i = 0; i < mi; i++) {
                long orow = oOff + (long) (i0 + i) * N + j0;
                for (int j = 0; j < nj; j++) {
                    double v = alpha * acc[i * nj + j];
                    if (beta != 0) v += beta * Acc.get(os, od, orow + j);
                    Acc.set(os, od, orow + j, v);
                }
            }
        });
    }
}
