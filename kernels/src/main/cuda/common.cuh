// Shared helpers for the speedrun CUDA kernels.
// Tensors arrive as untyped pointers plus a dtype code so one kernel serves every dtype mix the
// op contract allows (BF16 activations, F32 weights/statistics). Math is always F32.
// Dtype codes (must match dev.speedrun.kernels.cuda.KernelSpec.DT_*): 0 = F32, 1 = BF16.
#pragma once
#include <cuda_bf16.h>
#include <stdint.h>

#define DT_F32 0
#define DT_BF16 1

__device__ __forceinline__ float ld(const void* p, int dt, long long i) {
    return dt == DT_BF16 ? __bfloat162float(((const __nv_bfloat16*)p)[i]) : ((const float*)p)[i];
}

__device__ __forceinline__ void st(void* p, int dt, long long i, float v) {
    if (dt == DT_BF16) ((__nv_bfloat16*)p)[i] = __float2bfloat16_rn(v);
    else ((float*)p)[i] = v;
}

// p[i] += v (non-atomic: the caller owns element i).
__device__ __forceinline__ void acc(void* p, int dt, long long i, float v) {
    st(p, dt, i, ld(p, dt, i) + v);
}

// p[i] += v for a parameter gradient (non-atomic: the caller owns element i). A BF16 gradient
// receives v rounded to BF16 first, then the sum is rounded: the record's per-backward BF16
// gradient added into the accumulated BF16 .grad (autograd). F32 as acc.
__device__ __forceinline__ void acc_grad(void* p, int dt, long long i, float v) {
    if (dt == DT_BF16) v = __bfloat162float(__float2bfloat16_rn(v));
    acc(p, dt, i, v);
}

// A [1] scalar tensor, or 1 when absent (the contract's "null means 1").
__device__ __forceinline__ float scalar_or_one(const void* p, int dt) {
    return p == nullptr ? 1.0f : ld(p, dt, 0);
}

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + __expf(-x)); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets the
// result. Fixed order, so the result is deterministic. Uses 33 floats of shared memory.
__device__ __forceinline__ float block_sum(float v) {
    __shared__ float part[33];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < nw ? part[lane] : 0.0f;
        t = warp_sum(t);
        if (lane == 0) part[32] = t;
    }
    __syncthreads();
    return part[32];
}

__device__ __forceinline__ float block_max(float v) {
    __shared__ float partm[33];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) partm[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float t = lane < nw ? partm[lane] : -INFINITY;
        t = warp_max(t);
        if (lane == 0) partm[32] = t;
    }
    __syncthreads();
    return partm[32];
}

// Grid-stride loop over n elements.
#define GRID_LOOP(i, n) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
                             i += (long long)gridDim.x * blockDim.x)

// Decay masks (dev.speedrun.kernels.DecayMask ordinal): 0 ALL, 1 GE (u·p >= 0), 2 GT (u·p > 0).
__device__ __forceinline__ float decay_mask(int mask, float up) {
    return mask == 0 ? 1.0f : (mask == 1 ? (up >= 0.0f ? 1.0f : 0.0f) : (up > 0.0f ? 1.0f : 0.0f));
}
