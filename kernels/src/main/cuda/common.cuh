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


// ---------------------------------------------------------------- typed kernel bodies
// The memory-bound kernels dispatch once, at the top of their extern "C" entry point, on the dtype
// codes and the index width into a templated body (dispatch below): the inner loops then load and
// store typed elements with no per-element dtype branch, index in 32 bits wherever the sizes allow
// (no 64-bit division or modulo), and move 8 elements per access where the pointers are 16-byte
// aligned: one 16-byte load or store for BF16, two for F32 (VEC).

// Elements per vector access: 8 BF16 = 16 bytes, 8 F32 = 2 × 16 bytes.
#define VEC 8

template <typename T> struct Type { using type = T; };
template <typename... Ts> struct Types {};

// Pointer of a dispatched element type (t tags the type; const kept).
template <typename T> __device__ __forceinline__ T* typed(Type<T>, void* p) { return (T*)p; }
template <typename T> __device__ __forceinline__ const T* typed(Type<T>, const void* p) { return (const T*)p; }

template <typename... Ts, typename F> __device__ __forceinline__ void dispatch_(Types<Ts...>, F& f) { f(Type<Ts>()...); }
template <typename... Ts, typename F, typename... D>
__device__ __forceinline__ void dispatch_(Types<Ts...>, F& f, int dt, D... rest) {
    if (dt == DT_BF16) dispatch_(Types<Ts..., __nv_bfloat16>(), f, rest...);
    else dispatch_(Types<Ts..., float>(), f, rest...);
}

// Calls f(Type<I>(), Type<T1>(), …, Type<Tk>()) with I = int when every index a grid-stride loop
// over maxIndex elements forms (the last index plus one grid stride) fits in 31 bits, else
// long long, and Tj = float or __nv_bfloat16 by dtype code j. Runs once per thread, before the loop.
template <typename F, typename... D> __device__ __forceinline__ void dispatch(long long maxIndex, F f, D... dts) {
    long long stride = (long long)gridDim.x * blockDim.x * VEC;
    if (maxIndex + stride <= 0x7fffffffLL) dispatch_(Types<int>(), f, dts...);
    else dispatch_(Types<long long>(), f, dts...);
}

// Every non-null pointer 16-byte aligned (tensor views can start at any element: those take the
// scalar path).
__device__ __forceinline__ bool aligned16() { return true; }
template <typename... P> __device__ __forceinline__ bool aligned16(const void* p, P... rest) {
    return ((uintptr_t)p & 15) == 0 && aligned16(rest...);
}

template <int W> struct Width { static constexpr int value = W; };

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }
// v as a T tensor stores it (a BF16 state element read back after its store).
template <typename T> __device__ __forceinline__ float round_to(float v) { return to_f(from_f<T>(v)); }

// W consecutive elements p[0..W) to F32 and back: W = 1 scalar, W = VEC vector accesses (p 16-byte aligned).
__device__ __forceinline__ void ldv(Width<1>, const float* p, float* v) { v[0] = *p; }
__device__ __forceinline__ void ldv(Width<1>, const __nv_bfloat16* p, float* v) { v[0] = __bfloat162float(*p); }
__device__ __forceinline__ void stv(Width<1>, float* p, const float* v) { *p = v[0]; }
__device__ __forceinline__ void stv(Width<1>, __nv_bfloat16* p, const float* v) { *p = __float2bfloat16_rn(v[0]); }

__device__ __forceinline__ void ldv(Width<VEC>, const float* p, float* v) {
    float4 a = ((const float4*)p)[0], b = ((const float4*)p)[1];
    v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w;
    v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}
__device__ __forceinline__ void stv(Width<VEC>, float* p, const float* v) {
    ((float4*)p)[0] = make_float4(v[0], v[1], v[2], v[3]);
    ((float4*)p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}
// A BF16 is the upper half of an F32: word k of the 16 bytes holds elements 2k (low) and 2k+1 (high).
__device__ __forceinline__ void ldv(Width<VEC>, const __nv_bfloat16* p, float* v) {
    uint4 u = *(const uint4*)p;
    unsigned w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int k = 0; k < 4; k++) {
        v[2 * k] = __uint_as_float(w[k] << 16);
        v[2 * k + 1] = __uint_as_float(w[k] & 0xffff0000u);
    }
}
__device__ __forceinline__ void stv(Width<VEC>, __nv_bfloat16* p, const float* v) {
    unsigned w[4];
#pragma unroll
    for (int k = 0; k < 4; k++)
        w[k] = (unsigned)__bfloat16_as_ushort(__float2bfloat16_rn(v[2 * k])) |
               ((unsigned)__bfloat16_as_ushort(__float2bfloat16_rn(v[2 * k + 1])) << 16);
    *(uint4*)p = make_uint4(w[0], w[1], w[2], w[3]);
}

// Strided loop over n elements, this thread taking first, first + stride, … (in vectors, then
// elements): f(Width<VEC>(), i) for the whole vectors when vec (every pointer the body touches
// 16-byte aligned), then f(Width<1>(), i) for the tail (all of n when not vec). Each element has
// one owner, so in-place use stays safe where a body reads its elements before writing them.
template <typename I, typename F> __device__ __forceinline__ void for_each_in(I n, bool vec, I first, I stride, F f) {
    I nv = vec ? n / VEC : 0;
    for (I k = first; k < nv; k += stride) f(Width<VEC>(), k * VEC);
    for (I i = nv * VEC + first; i < n; i += stride) f(Width<1>(), i);
}

// for_each_in over the whole grid (x dimension): the grid-stride loop of the elementwise kernels.
template <typename I, typename F> __device__ __forceinline__ void for_each(I n, bool vec, F f) {
    for_each_in(n, vec, (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x, (I)gridDim.x * (I)blockDim.x, f);
}

// Grid-stride loop over an [R, C] row-major index space: f(Width<VEC>(), r, c) for the 8-element
// vectors of each row when vec (the caller checked C % VEC == 0 and the alignment of every row it
// touches), else f(Width<1>(), r, c) for each element. The row and column come from one 32-bit
// division per step where I = int.
template <typename I, typename F> __device__ __forceinline__ void rows_each(I R, I C, bool vec, F f) {
    I tid = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x, stride = (I)gridDim.x * (I)blockDim.x;
    if (vec) {
        I per = C / VEC, n = R * per;
        for (I k = tid; k < n; k += stride) {
            I r = k / per;
            f(Width<VEC>(), r, (k - r * per) * VEC);
        }
    } else {
        I n = R * C;
        for (I k = tid; k < n; k += stride) {
            I r = k / C;
            f(Width<1>(), r, k - r * C);
        }
    }
}

// Width of a for_each body's tag, as a constant expression.
#define W_OF(w) decltype(w)::value

// Grid-stride loop over n elements (the untyped kernels).
#define GRID_LOOP(i, n) for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
                             i += (long long)gridDim.x * blockDim.x)

// Decay masks (dev.speedrun.kernels.DecayMask ordinal): 0 ALL, 1 GE (u·p >= 0), 2 GT (u·p > 0).
__device__ __forceinline__ float decay_mask(int mask, float up) {
    return mask == 0 ? 1.0f : (mask == 1 ? (up >= 0.0f ? 1.0f : 0.0f) : (up > 0.0f ? 1.0f : 0.0f));
}
