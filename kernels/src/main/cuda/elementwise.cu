// Elementwise ops of the contract: fill, convert, add, mix (+ backward), sigmoid, relu², sum, sum of
// squares, token mask, FP8 quantisation.
// Grid-stride loops over 8-element vectors (common.cuh: for_each, dtype and index width dispatched
// once per launch); in-place use (out == x) is safe because every thread reads its elements before
// writing them.
#include "common.cuh"

// The bodies below run 8 elements at a time (W = VEC) through 16-byte accesses where every pointer
// is aligned, one at a time (W = 1) elsewhere; the F32 math per element is the same either way.

extern "C" __global__ void fill(void* out, int odt, long long n, float value) {
    dispatch(n, [&](auto I, auto O) {
        auto o = typed(O, out);
        for_each((typename decltype(I)::type)n, aligned16(out), [&](auto w, auto i) {
            float v[W_OF(w)];
            for (int k = 0; k < W_OF(w); k++) v[k] = value;
            stv(w, o + i, v);
        });
    }, odt);
}

extern "C" __global__ void convert(void* out, int odt, const void* x, int xdt, long long n) {
    dispatch(n, [&](auto I, auto O, auto X) {
        auto o = typed(O, out);
        auto xs = typed(X, x);
        for_each((typename decltype(I)::type)n, aligned16(out, x), [&](auto w, auto i) {
            float v[W_OF(w)];
            ldv(w, xs + i, v);
            stv(w, o + i, v);
        });
    }, odt, xdt);
}

extern "C" __global__ void add(void* out, int odt, const void* x, int xdt, const void* y, int ydt, long long n) {
    dispatch(n, [&](auto I, auto O, auto X, auto Y) {
        auto o = typed(O, out);
        auto xs = typed(X, x);
        auto ys = typed(Y, y);
        for_each((typename decltype(I)::type)n, aligned16(out, x, y), [&](auto w, auto i) {
            float a[W_OF(w)], b[W_OF(w)];
            ldv(w, xs + i, a);
            ldv(w, ys + i, b);
            for (int k = 0; k < W_OF(w); k++) a[k] = a[k] + b[k];
            stv(w, o + i, a);
        });
    }, odt, xdt, ydt);
}

// out = ca·a·x + cb·b·y; a, b are [1] tensors or null (1); y null drops the second term.
extern "C" __global__ void mix(void* out, int odt, const void* x, int xdt, const void* a, int adt, float ca,
                               const void* y, int ydt, const void* b, int bdt, float cb, long long n) {
    float fa = ca * scalar_or_one(a, adt);
    float fb = cb * scalar_or_one(b, bdt);
    dispatch(n, [&](auto I, auto O, auto X, auto Y) {
        auto o = typed(O, out);
        auto xs = typed(X, x);
        auto ys = typed(Y, y);
        bool hasY = y != nullptr;
        for_each((typename decltype(I)::type)n, aligned16(out, x, y), [&](auto w, auto i) {
            float u[W_OF(w)], t[W_OF(w)];
            ldv(w, xs + i, u);
            if (hasY) ldv(w, ys + i, t);
            for (int k = 0; k < W_OF(w); k++) {
                float v = fa * u[k];
                if (hasY) v += fb * t[k];
                u[k] = v;
            }
            stv(w, o + i, u);
        });
    }, odt, xdt, ydt);
}

// dx[i] += f(dOut[i], s[i]) for the backward kernels below (dx read before written, so in place is safe).
template <typename I, typename TD, typename TG, typename TS, typename F>
__device__ __forceinline__ void accumulate2(I n, TD* dx, const TG* dout, const TS* s, F f) {
    for_each(n, aligned16(dx, dout, s), [&](auto w, auto i) {
        float d[W_OF(w)], g[W_OF(w)], v[W_OF(w)];
        ldv(w, dx + i, d);
        ldv(w, dout + i, g);
        if (s != nullptr) ldv(w, s + i, v);
        for (int k = 0; k < W_OF(w); k++) d[k] = d[k] + f(g[k], v[k]);
        stv(w, dx + i, d);
    });
}

// One input gradient of mix_backward (dx, and dy with b and cb): dx += c·a·dOut; a is [1] or null (1).
extern "C" __global__ void mix_backward_dx(void* dx, int dxdt, const void* dout, int ddt, const void* a, int adt,
                                           float c, long long n) {
    float f = c * scalar_or_one(a, adt);
    dispatch(n, [&](auto I, auto D, auto G) {
        accumulate2((typename decltype(I)::type)n, typed(D, dx), typed(G, dout), (const float*)nullptr,
                    [&](float g, float) { return f * g; });
    }, dxdt, ddt);
}

extern "C" __global__ void sigmoid(void* out, int odt, const void* x, int xdt, long long n) {
    dispatch(n, [&](auto I, auto O, auto X) {
        auto o = typed(O, out);
        auto xs = typed(X, x);
        for_each((typename decltype(I)::type)n, aligned16(out, x), [&](auto w, auto i) {
            float v[W_OF(w)];
            ldv(w, xs + i, v);
            for (int k = 0; k < W_OF(w); k++) v[k] = 1.0f / (1.0f + expf(-v[k]));
            stv(w, o + i, v);
        });
    }, odt, xdt);
}

// dx += dOut·y·(1−y), y = σ(x) the forward output.
extern "C" __global__ void sigmoid_backward(void* dx, int dxdt, const void* dout, int ddt, const void* y, int ydt,
                                            long long n) {
    dispatch(n, [&](auto I, auto D, auto G, auto Y) {
        accumulate2((typename decltype(I)::type)n, typed(D, dx), typed(G, dout), typed(Y, y),
                    [](float g, float s) { return g * s * (1.0f - s); });
    }, dxdt, ddt, ydt);
}

extern "C" __global__ void relu_squared(void* out, int odt, const void* x, int xdt, long long n) {
    dispatch(n, [&](auto I, auto O, auto X) {
        auto o = typed(O, out);
        auto xs = typed(X, x);
        for_each((typename decltype(I)::type)n, aligned16(out, x), [&](auto w, auto i) {
            float v[W_OF(w)];
            ldv(w, xs + i, v);
            for (int k = 0; k < W_OF(w); k++) {
                float r = fmaxf(v[k], 0.0f);
                v[k] = r * r;
            }
            stv(w, o + i, v);
        });
    }, odt, xdt);
}

// dx += dOut·2·relu(x).
extern "C" __global__ void relu_squared_backward(void* dx, int dxdt, const void* dout, int ddt, const void* x,
                                                 int xdt, long long n) {
    dispatch(n, [&](auto I, auto D, auto G, auto X) {
        accumulate2((typename decltype(I)::type)n, typed(D, dx), typed(G, dout), typed(X, x),
                    [](float g, float v) { return g * 2.0f * fmaxf(v, 0.0f); });
    }, dxdt, ddt, xdt);
}

// out[i] = tokens[i] == value ? ifEqual : otherwise.
extern "C" __global__ void token_mask(void* out, int odt, const int* tokens, int value, float ifEqual,
                                      float otherwise, long long n) {
    GRID_LOOP(i, n) st(out, odt, i, tokens[i] == value ? ifEqual : otherwise);
}

// Deterministic full reductions for sum, sum_squares and the da/db sums of mix_backward, in two
// passes (a fixed number of per-block partials, then one block adds them in a fixed order), so
// results never depend on scheduling.

// mode 0: Σ x (sum); 1: Σ x² (sum_squares); 2: Σ x·y (mix_backward); partials[blockIdx.x]
// receives the block's share.
extern "C" __global__ void sum_partial(float* partials, const void* x, int xdt, const void* y, int ydt, long long n,
                                       int mode) {
    float s = 0.0f;
    dispatch(n, [&](auto I, auto X, auto Y) {
        auto xs = typed(X, x);
        auto ys = typed(Y, y);
        for_each((typename decltype(I)::type)n, aligned16(x, y), [&](auto w, auto i) {
            float u[W_OF(w)], v[W_OF(w)];
            ldv(w, xs + i, u);
            if (mode == 2) ldv(w, ys + i, v);
            for (int k = 0; k < W_OF(w); k++) s += mode == 0 ? u[k] : (mode == 1 ? u[k] * u[k] : u[k] * v[k]);
        });
    }, xdt, ydt);
    s = block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// out[0] = coef·Σ partials (or += when accumulate). One block.
extern "C" __global__ void sum_finish(void* out, int odt, const float* partials, int nparts, float coef,
                                      int accumulate) {
    float s = 0.0f;
    for (int i = threadIdx.x; i < nparts; i += blockDim.x) s += partials[i];
    s = block_sum(s);
    if (threadIdx.x == 0) st(out, odt, 0, coef * s + (accumulate ? ld(out, odt, 0) : 0.0f));
}

// FP8 quantisation (the record's x.div(s).to(float8)): out = fp8(x / scale[0]), the quotient in F32,
// rounded to nearest even with saturation to the largest finite value (the __nv_fp8_* constructors
// use __NV_SATFINITE: cvt.rn.satfinite on sm_89+, the same rounding in software below), E4M3 (fmt 0)
// or E5M2 (fmt 1). Serves quantize_fp8 (rows 1, cols = pitch = n) and also matmul_fp8, whose operands
// it writes straight into the "TN" layout the FP8 GEMM needs: out is [rows, pitch] row-major with
// out[r, c] = fp8(src(r, c) / s) for c < cols and 0 for the padding cols <= c < pitch (K rounded up to
// 16), src(r, c) = x[r, c] of x [rows, cols], or x[c, r] of x [cols, rows] when transpose is set.
#include <cuda_fp8.h>
__device__ __forceinline__ void st_fp8(void* out, int fmt, long long i, float v) {
    if (fmt == 0) ((__nv_fp8_e4m3*)out)[i] = __nv_fp8_e4m3(v);
    else ((__nv_fp8_e5m2*)out)[i] = __nv_fp8_e5m2(v);
}

#define QT 32   // transposed quantisation: 32x32 tiles through shared memory, so reads and writes are both coalesced
extern "C" __global__ void quantize_fp8(void* out, int fmt, const void* x, int xdt, const float* scale,
                                        long long rows, long long cols, long long pitch, int transpose) {
    float s = scale[0];
    if (!transpose) {
        GRID_LOOP(i, rows * pitch) {
            long long r = i / pitch, c = i - r * pitch;
            st_fp8(out, fmt, i, c < cols ? ld(x, xdt, r * cols + c) / s : 0.0f);
        }
        return;
    }
    // x is [cols, rows]: tile (r0, c0) reads x[c0 + j, r0 + i] along i (contiguous), writes out[r0 + i, c0 + j] along j
    __shared__ float tile[QT][QT + 1];
    long long tilesR = (rows + QT - 1) / QT, tilesC = (pitch + QT - 1) / QT;
    int tx = threadIdx.x % QT, ty = threadIdx.x / QT, step = blockDim.x / QT;
    for (long long t = blockIdx.x; t < tilesR * tilesC; t += gridDim.x) {
        long long r0 = (t / tilesC) * QT, c0 = (t % tilesC) * QT;
        for (int j = ty; j < QT; j += step) {
            long long r = r0 + tx, c = c0 + j;
            tile[j][tx] = (r < rows && c < cols) ? ld(x, xdt, c * rows + r) / s : 0.0f;
        }
        __syncthreads();
        for (int i = ty; i < QT; i += step) {
            long long r = r0 + i, c = c0 + tx;
            if (r < rows && c < pitch) st_fp8(out, fmt, r * pitch + c, tile[tx][i]);
        }
        __syncthreads();
    }
}
