// CUDA device emulation for g++: included (-include cuda_emu.h) before every unchanged .cu file so
// the very kernels that run on a GPU run on the CPU. Each CUDA thread is a fiber; a block runs to
// completion on one worker thread, so __shared__ (static thread_local) is per block. Barriers,
// warp shuffles, votes and the tensor-core fragments are cooperative operations of the runtime
// (emu_runtime.cpp), which also finds launches where no thread can make progress.
// What this cannot emulate (timing, occupancy, inter-block memory ordering, inline PTX) is listed
// in docs/cuda.md.
#pragma once
#define CUDA_EMU 1

#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <algorithm>
#include <cmath>

// host_defines.h (pulled in by cuda_bf16.h) defines these as nothing for a host compiler.
#undef __shared__
#define __shared__ static thread_local
#undef __global__
#define __global__
#undef __device__
#define __device__
#undef __host__
#define __host__
#undef __launch_bounds__
#define __launch_bounds__(...)

// dim3 and uint3 come from the CUDA headers (vector_types.h).

namespace emu {

/** What every fiber (emulated CUDA thread) exposes to device code. */
struct ThreadState {
    uint3 tIdx;
    uint3 bIdx;
    dim3 bDim;
    dim3 gDim;
    int linear;   // threadIdx.x + blockDim.x·(threadIdx.y + blockDim.y·threadIdx.z)
};

extern thread_local ThreadState* t_thread;

/** A warp collective: fn runs once, on the last lane to arrive, with every participating lane's
 *  in/out pointers (indexed by lane, null for lanes outside the mask). */
typedef void (*CollectiveFn)(void* const* ins, void* const* outs, unsigned mask, const void* ctx);

extern "C" void emu_syncthreads();
extern "C" void emu_warp_collective(const char* what, unsigned mask, CollectiveFn fn, const void* ctx, void* in, void* out);
extern "C" void emu_trap(const char* why);

// --- shuffles: PTX shfl.sync semantics (modes, clamp value c[4:0] and segment mask c[12:8]).
enum ShflMode { SHFL_IDX = 0, SHFL_UP = 1, SHFL_DOWN = 2, SHFL_BFLY = 3 };
struct ShflIn {
    uint64_t value;
    int b, c;
};
extern "C" void emu_shfl_fn(void* const* ins, void* const* outs, unsigned mask, const void* ctx);
extern "C" void emu_ballot_fn(void* const* ins, void* const* outs, unsigned mask, const void* ctx);
extern "C" void emu_syncwarp_fn(void* const* ins, void* const* outs, unsigned mask, const void* ctx);
extern "C" unsigned emu_activemask();

template <typename T>
inline T shfl(const char* what, unsigned mask, T v, int b, int c, int mode) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 64 bits");
    ShflIn in{0, b, c};
    memcpy(&in.value, &v, sizeof(T));
    uint64_t out = 0;
    static const int modes[4] = {SHFL_IDX, SHFL_UP, SHFL_DOWN, SHFL_BFLY};
    emu_warp_collective(what, mask, emu_shfl_fn, &modes[mode], &in, &out);
    T r;
    memcpy(&r, &out, sizeof(T));
    return r;
}
}  // namespace emu

#define threadIdx (::emu::t_thread->tIdx)
#define blockIdx (::emu::t_thread->bIdx)
#define blockDim (::emu::t_thread->bDim)
#define gridDim (::emu::t_thread->gDim)
static const int warpSize = 32;

inline void __syncthreads() { emu::emu_syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
    emu::emu_warp_collective("__syncwarp", mask, emu::emu_syncwarp_fn, nullptr, nullptr, nullptr);
}
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __trap() { emu::emu_trap("__trap()"); }
inline unsigned __activemask() { return emu::emu_activemask(); }

template <typename T> inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    return emu::shfl("__shfl_sync", mask, v, src, ((32 - width) << 8) | 0x1f, 0);
}
template <typename T> inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    return emu::shfl("__shfl_up_sync", mask, v, (int)delta, (32 - width) << 8, 1);
}
template <typename T> inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    return emu::shfl("__shfl_down_sync", mask, v, (int)delta, ((32 - width) << 8) | 0x1f, 2);
}
template <typename T> inline T __shfl_xor_sync(unsigned mask, T v, int laneMask, int width = 32) {
    return emu::shfl("__shfl_xor_sync", mask, v, laneMask, ((32 - width) << 8) | 0x1f, 3);
}
inline unsigned __ballot_sync(unsigned mask, int pred) {
    int in = pred != 0;
    unsigned out = 0;
    emu::emu_warp_collective("__ballot_sync", mask, emu::emu_ballot_fn, nullptr, &in, &out);
    return out;
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }

// --- atomics (device memory is shared by blocks running on other worker threads)
template <typename T, typename F> inline T emu_atomic_update(T* p, F f) {
    T old, want;
    __atomic_load(p, &old, __ATOMIC_RELAXED);
    do { want = f(old); } while (!__atomic_compare_exchange(p, &old, &want, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    return old;
}
inline float atomicAdd(float* p, float v) { return emu_atomic_update(p, [v](float o) { return o + v; }); }
inline double atomicAdd(double* p, double v) { return emu_atomic_update(p, [v](double o) { return o + v; }); }
inline __nv_bfloat16 atomicAdd(__nv_bfloat16* p, __nv_bfloat16 v) {
    uint16_t* u = reinterpret_cast<uint16_t*>(p);
    uint16_t old = __atomic_load_n(u, __ATOMIC_RELAXED), want;
    do {
        __nv_bfloat16 o;
        memcpy(&o, &old, 2);
        __nv_bfloat16 s = __float2bfloat16_rn(__bfloat162float(o) + __bfloat162float(v));
        memcpy(&want, &s, 2);
    } while (!__atomic_compare_exchange_n(u, &old, want, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    __nv_bfloat16 r;
    memcpy(&r, &old, 2);
    return r;
}
inline int atomicAdd(int* p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned atomicAdd(unsigned* p, unsigned v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
inline int atomicMax(int* p, int v) { return emu_atomic_update(p, [v](int o) { return o > v ? o : v; }); }
inline int atomicMin(int* p, int v) { return emu_atomic_update(p, [v](int o) { return o < v ? o : v; }); }
inline int atomicExch(int* p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
inline int atomicCAS(int* p, int cmp, int v) { __atomic_compare_exchange_n(p, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); return cmp; }

// --- device math (IEEE host versions; the GPU's fast intrinsics are approximations of these)
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __saturatef(float x) { return x != x ? 0.0f : fminf(fmaxf(x, 0.0f), 1.0f); }
inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
inline int __float_as_int(float f) { int i; memcpy(&i, &f, 4); return i; }
inline unsigned __float_as_uint(float f) { unsigned i; memcpy(&i, &f, 4); return i; }
inline float __uint_as_float(unsigned i) { float f; memcpy(&f, &i, 4); return f; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
using std::max;
using std::min;
inline long long max(long long a, int b) { return a > b ? a : (long long)b; }
inline long long max(int a, long long b) { return a > b ? (long long)a : b; }
inline long long min(long long a, int b) { return a < b ? a : (long long)b; }
inline long long min(int a, long long b) { return a < b ? (long long)a : b; }
inline unsigned max(unsigned a, int b) { return a > (unsigned)b ? a : (unsigned)b; }
inline unsigned min(unsigned a, int b) { return a < (unsigned)b ? a : (unsigned)b; }

// --- tensor-core fragments (tensor_core.cuh calls these where the GPU runs PTX)
namespace emu {
struct MmaIn {
    uint32_t a[4], b[2];
    float c[4];
};
extern "C" void emu_mma_m16n8k16_bf16_fn(void* const* ins, void* const* outs, unsigned mask, const void* ctx);
extern "C" void emu_ldmatrix_x4_fn(void* const* ins, void* const* outs, unsigned mask, const void* ctx);

inline void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
    MmaIn in;
    memcpy(in.a, a, sizeof in.a);
    memcpy(in.b, b, sizeof in.b);
    memcpy(in.c, c, sizeof in.c);
    float out[4];
    emu_warp_collective("mma.sync.m16n8k16", 0xffffffffu, emu_mma_m16n8k16_bf16_fn, nullptr, &in, out);
    memcpy(d, out, sizeof out);
}

inline void ldmatrix_x4(uint32_t r[4], const void* row, bool trans) {
    static const int modes[2] = {0, 1};
    const void* in = row;
    uint32_t out[4];
    emu_warp_collective(trans ? "ldmatrix.x4.trans" : "ldmatrix.x4", 0xffffffffu, emu_ldmatrix_x4_fn, &modes[trans ? 1 : 0],
                        &in, out);
    memcpy(r, out, sizeof out);
}
}  // namespace emu
