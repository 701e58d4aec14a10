// Fallback GEMM (shared-memory tiles, F32 accumulation) used when cuBLASLt cannot be loaded, and
// as an independent cross-check of the cuBLASLt path in the GPU tests. Row-major:
// out[b] = alpha·op(a[b])·op(b[b]) + beta·out[b]; a [M,K] ([K,M] if transA), b [K,N] ([N,K] if transB).
// Batch strides in elements (0 broadcasts one matrix). With beta == 0 out is not read (NaN-safe).
// Launch: block (16, 16), grid (ceil(N/16), ceil(M/16), batch).
#include "common.cuh"

#define GT 16

extern "C" __global__ void matmul_tiled(void* out, int odt, const void* a, int adt, const void* b, int bdt, int M,
                                        int N, int K, int transA, int transB, long long strideA, long long strideB,
                                        long long strideOut, float alpha, float beta) {
    __shared__ float As[GT][GT + 1];
    __shared__ float Bs[GT][GT + 1];
    int bz = blockIdx.z;
    int row = blockIdx.y * GT + threadIdx.y, col = blockIdx.x * GT + threadIdx.x;
    long long oa = bz * strideA, ob = bz * strideB, oo = bz * strideOut;
    float s = 0.0f;
    for (int k0 = 0; k0 < K; k0 += GT) {
        int ka = k0 + threadIdx.x;   // A tile: rows of out, k along x
        int ar = blockIdx.y * GT + threadIdx.y;
        As[threadIdx.y][threadIdx.x] = (ar < M && ka < K)
            ? ld(a, adt, oa + (transA ? (long long)ka * M + ar : (long long)ar * K + ka)) : 0.0f;
        int kb = k0 + threadIdx.y;   // B tile: k along y, cols of out
        int bc = blockIdx.x * GT + threadIdx.x;
        Bs[threadIdx.y][threadIdx.x] = (kb < K && bc < N)
            ? ld(b, bdt, ob + (transB ? (long long)bc * K + kb : (long long)kb * N + bc)) : 0.0f;
        __syncthreads();
        for (int kk = 0; kk < GT; kk++) s += As[threadIdx.y][kk] * Bs[kk][threadIdx.x];
        __syncthreads();
    }
    if (row < M && col < N) {
        long long i = oo + (long long)row * N + col;
        float r = alpha * s;
        if (beta != 0.0f) r += beta * ld(out, odt, i);
        st(out, odt, i, r);
    }
}

// matmul_fp8 where cuBLASLt's FP8 GEMM is not available (no cuBLASLt, compute capability < 8.9, N
// not a multiple of 16): the same products on CUDA cores. Operands as CudaOps packs them for
// cuBLASLt ("TN"): a [M,K] and b [N,K] row-major FP8 (E4M3 fmt 0, E5M2 fmt 1), K a multiple of 16
// (zero padding); out[M,N] = aScale·bScale·(a·bᵀ) + beta·out with F32 accumulation of the exact
// FP8 values. Launch: block (16, 16), grid (ceil(N/16), ceil(M/16)).
#include <cuda_fp8.h>
__device__ __forceinline__ float ld_fp8(const void* p, int fmt, long long i) {
    return fmt == 0 ? (float)((const __nv_fp8_e4m3*)p)[i] : (float)((const __nv_fp8_e5m2*)p)[i];
}

extern "C" __global__ void matmul_fp8(void* out, int odt, const void* a, int afmt, const void* b, int bfmt,
                                      const float* aScale, const float* bScale, int M, int N, int K, float beta) {
    __shared__ float As[GT][GT + 1];
    __shared__ float Bs[GT][GT + 1];
    int row = blockIdx.y * GT + threadIdx.y, col = blockIdx.x * GT + threadIdx.x;
    float s = 0.0f;
    for (int k0 = 0; k0 < K; k0 += GT) {
        int ka = k0 + threadIdx.x;
        As[threadIdx.y][threadIdx.x] = (row < M && ka < K) ? ld_fp8(a, afmt, (long long)row * K + ka) : 0.0f;
        int bc = blockIdx.x * GT + threadIdx.y;   // b row (out column) along y, k along x: coalesced reads
        Bs[threadIdx.x][threadIdx.y] = (bc < N && ka < K) ? ld_fp8(b, bfmt, (long long)bc * K + ka) : 0.0f;
        __syncthreads();
        for (int kk = 0; kk < GT; kk++) s += As[threadIdx.y][kk] * Bs[kk][threadIdx.x];
        __syncthreads();
    }
    if (row < M && col < N) {
        long long i = (long long)row * N + col;
        float r = (aScale[0] * bScale[0]) * s;
        if (beta != 0.0f) r += beta * ld(out, odt, i);
        st(out, odt, i, r);
    }
}
