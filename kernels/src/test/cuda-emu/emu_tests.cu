// Test kernels of the CUDA emulation (EmuRuntimeTest): tensor-core fragments against a plain GEMM,
// the shfl.sync modes, and kernels with the defects the emulator must report.
#include <cuda_bf16.h>
#include <stdint.h>
#include "tensor_core.cuh"

// d[M,N] = a[M,K]·bt[N,K]ᵀ (BF16 in, F32 out), one warp per 16×8 tile of d: A through shared
// memory and ldmatrix.x4, B loaded into its fragment, mma.m16n8k16 over K in steps of 16.
// grid (N/8, M/16), block 32.
extern "C" __global__ void emu_test_mma_gemm(float* d, const __nv_bfloat16* a, const __nv_bfloat16* bt, int M, int N, int K) {
    __shared__ __nv_bfloat16 As[16][16];
    int lane = threadIdx.x, g = lane >> 2, t = lane & 3;
    int m0 = blockIdx.y * 16, n0 = blockIdx.x * 8;
    float acc[4] = {0, 0, 0, 0};
    for (int k0 = 0; k0 < K; k0 += 16) {
        for (int i = lane; i < 256; i += 32) As[i / 16][i % 16] = a[(long long)(m0 + i / 16) * K + k0 + i % 16];
        __syncwarp();
        uint32_t af[4], bf[2];
        ldmatrix_x4(af, &As[(lane % 8) + ((lane / 8) & 1) * 8][(lane / 16) * 8]);
        const __nv_bfloat16* col = bt + (long long)(n0 + g) * K + k0;
        bf[0] = *(const uint32_t*)(col + 2 * t);
        bf[1] = *(const uint32_t*)(col + 2 * t + 8);
        mma_m16n8k16_bf16(acc, af, bf, acc);
        __syncwarp();
    }
    for (int i = 0; i < 4; i++) d[(long long)(m0 + g + (i >= 2 ? 8 : 0)) * N + n0 + 2 * t + (i & 1)] = acc[i];
}

// out[lane·4 + i] = register i of ldmatrix.x4.trans over a 16×16 BF16 tile (rows of 16 elements),
// matrix i = rows 8(i&1).., columns 8(i>>1)..; block 32.
extern "C" __global__ void emu_test_ldmatrix_trans(uint32_t* out, const __nv_bfloat16* tile) {
    __shared__ __nv_bfloat16 Ts[16][16];
    int lane = threadIdx.x;
    for (int i = lane; i < 256; i += 32) Ts[i / 16][i % 16] = tile[i];
    __syncwarp();
    uint32_t r[4];
    ldmatrix_x4_trans(r, &Ts[(lane % 8) + ((lane / 8) & 1) * 8][(lane / 16) * 8]);
    for (int i = 0; i < 4; i++) out[lane * 4 + i] = r[i];
}

// out[lane] = shuffle of v = 100 + lane by mode (0 idx, 1 up, 2 down, 3 xor) with b and width,
// lanes outside mask do not take part and write -1.
extern "C" __global__ void emu_test_shfl(int* out, int mode, int b, int width, unsigned mask) {
    int lane = threadIdx.x & 31, v = 100 + lane;
    int r = -1;
    if (mask >> lane & 1u) {
        if (mode == 0) r = __shfl_sync(mask, v, b, width);
        else if (mode == 1) r = __shfl_up_sync(mask, v, b, width);
        else if (mode == 2) r = __shfl_down_sync(mask, v, b, width);
        else r = __shfl_xor_sync(mask, v, b, width);
    }
    out[threadIdx.x] = r;
}

// out[lane] = __ballot_sync(full, lane % 3 == 0), then the warp's sum by butterfly (out[32 + lane]).
extern "C" __global__ void emu_test_vote(unsigned* out) {
    int lane = threadIdx.x;
    out[lane] = __ballot_sync(0xffffffffu, lane % 3 == 0);
    float s = (float)lane;
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    out[32 + lane] = (unsigned)s;
}

// Reverses a block through shared memory; with barrier = 0 the __syncthreads is missing.
extern "C" __global__ void emu_test_reverse(int* out, const int* in, int barrier) {
    __shared__ int s[256];
    int t = threadIdx.x, n = blockDim.x;
    s[t] = in[blockIdx.x * n + t];
    if (barrier) __syncthreads();
    out[blockIdx.x * n + t] = s[n - 1 - t];
}

// The first warp leaves before the barrier the others wait at.
extern "C" __global__ void emu_test_partial_barrier(int* out) {
    if (threadIdx.x < 32) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

// Lane 0 waits in a shuffle its warp-mates never reach.
extern "C" __global__ void emu_test_lonely_shuffle(int* out) {
    int v = threadIdx.x;
    if (threadIdx.x == 0) v = __shfl_sync(0xffffffffu, v, 1);
    out[threadIdx.x] = v;
}

// Half the block waits at a barrier while the other half waits for it in a shuffle.
extern "C" __global__ void emu_test_deadlock(int* out) {
    int v = threadIdx.x;
    if (threadIdx.x < 16) __syncthreads();
    else v = __shfl_sync(0xffffffffu, v, 0);
    out[threadIdx.x] = v;
}
