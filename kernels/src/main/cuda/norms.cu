// RMS norm without weights over the last axis: one warp per row, F32 accumulation. Each lane takes
// 8-element vectors along the row (C = 768: 96 vectors, 3 a lane) where the row's pointers are
// 16-byte aligned, single elements elsewhere (common.cuh: for_each_in).
#include "common.cuh"

// out[r] = x[r]·rrms[r], rrms[r] = 1/sqrt(mean(x[r]²) + eps). out may alias x (each lane reads its
// elements before writing them). Block = 256 threads = 8 rows; grid = ceil(R / 8).
extern "C" __global__ void rms_norm(void* out, int odt, float* rrms, const void* x, int xdt, int R, int C,
                                    float eps) {
    int lane = threadIdx.x & 31;
    int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= R) return;
    dispatch((long long)R * C, [&](auto I, auto O, auto X) {
        using Ix = typename decltype(I)::type;
        auto xs = typed(X, x) + (Ix)r * (Ix)C;
        auto os = typed(O, out) + (Ix)r * (Ix)C;
        bool vec = aligned16(xs, os);
        float s = 0.0f;
        for_each_in((Ix)C, vec, (Ix)lane, (Ix)32, [&](auto w, auto i) {
            float v[W_OF(w)];
            ldv(w, xs + i, v);
            for (int k = 0; k < W_OF(w); k++) s += v[k] * v[k];
        });
        s = warp_sum(s);
        float rr = rsqrtf(s / (float)C + eps);
        for_each_in((Ix)C, vec, (Ix)lane, (Ix)32, [&](auto w, auto i) {
            float v[W_OF(w)];
            ldv(w, xs + i, v);
            for (int k = 0; k < W_OF(w); k++) v[k] = v[k] * rr;
            stv(w, os + i, v);
        });
        if (lane == 0) rrms[r] = rr;
    }, odt, xdt);
}

// dx += rrms·(dOut − y·mean(dOut·y)), y = x·rrms. Same launch shape as the forward.
extern "C" __global__ void rms_norm_backward(void* dx, int dxdt, const void* dout, int ddt, const void* x, int xdt,
                                             const float* rrms, int R, int C) {
    int lane = threadIdx.x & 31;
    int r = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= R) return;
    float rr = rrms[r];
    dispatch((long long)R * C, [&](auto I, auto DX, auto D, auto X) {
        using Ix = typename decltype(I)::type;
        Ix base = (Ix)r * (Ix)C;
        auto dxs = typed(DX, dx) + base;
        auto ds = typed(D, dout) + base;
        auto xs = typed(X, x) + base;
        bool vec = aligned16(dxs, ds, xs);
        float s = 0.0f;
        for_each_in((Ix)C, vec, (Ix)lane, (Ix)32, [&](auto w, auto i) {
            float g[W_OF(w)], v[W_OF(w)];
            ldv(w, ds + i, g);
            ldv(w, xs + i, v);
            for (int k = 0; k < W_OF(w); k++) s += g[k] * v[k] * rr;
        });
        float m = warp_sum(s) / (float)C;
        for_each_in((Ix)C, vec, (Ix)lane, (Ix)32, [&](auto w, auto i) {
            float d[W_OF(w)], g[W_OF(w)], v[W_OF(w)];
            ldv(w, dxs + i, d);
            ldv(w, ds + i, g);
            ldv(w, xs + i, v);
            for (int k = 0; k < W_OF(w); k++) {
                float y = v[k] * rr;
                d[k] = d[k] + rr * (g[k] - y * m);
            }
            stv(w, dxs + i, d);
        });
    }, dxdt, ddt, xdt);
}
