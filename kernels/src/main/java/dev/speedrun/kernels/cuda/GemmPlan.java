package dev.speedrun.kernels.cuda;

/**
 * A row-major GEMM expressed as the column-major call cuBLAS(Lt) makes. Row-major
 * {@code C[M,N] = op(a)·op(b)} is column-major {@code Cᵀ[N,M] = op(b)ᵀ·op(a)ᵀ}: cuBLAS's operand A
 * is our b, its operand B is our a, (m, n) = (N, M), and no data moves. A matrix stored row-major
 * as [r, c] is the column-major [c, r] matrix with leading dimension c.
 *
 * @param m         cuBLAS m (= N)
 * @param n         cuBLAS n (= M)
 * @param k         K
 * @param opA       transpose flag of cuBLAS's A (our b): set when transB
 * @param opB       transpose flag of cuBLAS's B (our a): set when transA
 * @param aLayout   column-major layout of cuBLAS's A (our b) as stored
 * @param bLayout   column-major layout of cuBLAS's B (our a) as stored
 * @param cLayout   column-major layout of C/D (our out)
 * @param batch     batch count (1 for 2-D)
 */
public record GemmPlan(long m, long n, long k, boolean opA, boolean opB, Layout aLayout, Layout bLayout, Layout cLayout,
                       long batch) {
    /** Column-major matrix layout: rows, cols, leading dimension, batch stride (elements). */
    public record Layout(long rows, long cols, long ld, long batchStride) {}

    public static GemmPlan of(GemmShape s, boolean transA, boolean transB) {
        long M = s.m(), N = s.n(), K = s.k();
        // our b: stored [K,N] (or [N,K] when transB) row-major -> column-major [N,K] (or [K,N]).
        Layout bl = transB ? new Layout(K, N, K, K * N) : new Layout(N, K, N, K * N);
        // our a: stored [M,K] (or [K,M] when transA) row-major -> column-major [K,M] (or [M,K]).
        Layout al = transA ? new Layout(M, K, M, M * K) : new Layout(K, M, K, M * K);
        Layout cl = new Layout(N, M, N, M * N);
        return new GemmPlan(N, M, K, transB, transA, bl, al, cl, s.batch());
    }
}
