// Attention head gate and smear gate (sigmoid gates on the first G channels of the input).
// Row-wise bodies take 8-element vectors along the row (D or C a multiple of 8, tensors 16-byte
// aligned), single elements otherwise; dtypes and index width are dispatched once per launch.
#include "common.cuh"

// gate[t,h] = σ(x[t,:G]·w[h]); out[t,h,:] = y[t,h,:]·gate[t,h]. One thread per (t,h, 8 d's or one
// d); each recomputes its G-term dot (G is small), once per vector; out may alias y.
extern "C" __global__ void head_gate(void* out, int odt, float* gate, const void* y, int ydt, const void* x,
                                     int xdt, const void* w, int wdt, int T, int H, int D, int C, int G) {
    dispatch((long long)T * (H * D > C ? H * D : C), [&](auto I, auto O, auto Y, auto X, auto Wt) {
        using Ix = typename decltype(I)::type;
        auto os = typed(O, out);
        auto ys = typed(Y, y);
        auto xs = typed(X, x);
        auto ws = typed(Wt, w);
        rows_each((Ix)T * (Ix)H, (Ix)D, D % VEC == 0 && aligned16(out, y), [&](auto wd, Ix th, Ix d) {
            Ix t = th / (Ix)H;
            int h = (int)(th - t * (Ix)H);
            float z = 0.0f;
            for (int c = 0; c < G; c++) z += to_f(xs[t * (Ix)C + c]) * to_f(ws[h * G + c]);
            float g = 1.0f / (1.0f + expf(-z));
            float v[W_OF(wd)];
            ldv(wd, ys + th * (Ix)D + d, v);
            for (int k = 0; k < W_OF(wd); k++) v[k] = v[k] * g;
            stv(wd, os + th * (Ix)D + d, v);
            if (d == 0) gate[th] = g;
        });
    }, odt, ydt, xdt, wdt);
}

// dy += dOut·gate; gp[t,h] = Σ_d dOut·y · gate(1−gate). One warp per (t,h), 8 per block; lanes
// take 8-element vectors along d where aligned.
extern "C" __global__ void head_gate_backward_dy(void* dy, int dydt, float* gp, const void* dout, int ddt,
                                                 const void* y, int ydt, const float* gate, int T, int H, int D) {
    int th = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (th >= T * H) return;
    float g = gate[th], s = 0.0f;
    dispatch((long long)T * H * D, [&](auto I, auto DY, auto G, auto Y) {
        using Ix = typename decltype(I)::type;
        Ix base = (Ix)th * (Ix)D;
        auto dys = typed(DY, dy) + base;
        auto gs = typed(G, dout) + base;
        auto ys = typed(Y, y) + base;
        bool hasDy = dy != nullptr;
        for_each_in((Ix)D, aligned16(dys, gs, ys), (Ix)lane, (Ix)32, [&](auto w, Ix i) {
            constexpr int W = W_OF(w);
            float go[W], yv[W], d[W];
            ldv(w, gs + i, go);
            ldv(w, ys + i, yv);
            for (int k = 0; k < W; k++) s += go[k] * yv[k];
            if (hasDy) {
                ldv(w, dys + i, d);
                for (int k = 0; k < W; k++) d[k] = d[k] + go[k] * g;
                stv(w, dys + i, d);
            }
        });
    }, dydt, ddt, ydt);
    s = warp_sum(s);
    if (lane == 0) gp[th] = s * g * (1.0f - g);
}

// dx[t,c] += Σ_h gp[t,h]·w[h,c] for c < G; one thread per (t,c).
extern "C" __global__ void head_gate_backward_dx(void* dx, int dxdt, const float* gp, const void* w, int wdt, int T,
                                                 int H, int C, int G) {
    dispatch((long long)T * C, [&](auto I, auto DX, auto Wt) {
        using Ix = typename decltype(I)::type;
        auto dxs = typed(DX, dx);
        auto ws = typed(Wt, w);
        rows_each((Ix)T, (Ix)G, false, [&](auto, Ix t, Ix c) {
            float s = 0.0f;
            for (int h = 0; h < H; h++) s += gp[t * (Ix)H + h] * to_f(ws[h * G + c]);
            Ix i = t * (Ix)C + c;
            dxs[i] = from_f<typename decltype(DX)::type>(to_f(dxs[i]) + s);
        });
    }, dxdt, wdt);
}

// Σ_{first ≤ t < n, t ≡ first mod step} f(t) with four independent partial sums (four loads in
// flight per thread), added in a fixed order: deterministic for a given block size.
template <typename I, typename F> __device__ __forceinline__ float strided_sum4(I first, I n, I step, F f) {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    I t = first;
    for (; t + 3 * step < n; t += 4 * step) {
        s0 += f(t);
        s1 += f(t + step);
        s2 += f(t + 2 * step);
        s3 += f(t + 3 * step);
    }
    for (; t < n; t += step) s0 += f(t);
    return (s0 + s1) + (s2 + s3);
}

// dw[h,c] += Σ_t gp[t,h]·x[t,c]; one block per (h,c) (grid H·G, block CudaOps.REDUCE_BLOCK: the
// grid is small, so each block is as wide as a block gets), deterministic block reduction.
// A BF16 dw (the record's BF16 gate weights) gets the sum rounded to BF16 first (acc_grad).
extern "C" __global__ void head_gate_backward_dw(void* dw, int dwdt, const float* gp, const void* x, int xdt, int T,
                                                 int H, int C, int G) {
    int h = blockIdx.x / G, c = blockIdx.x % G;
    float s = 0.0f;
    dispatch((long long)T * (H > C ? H : C), [&](auto I, auto X) {
        using Ix = typename decltype(I)::type;
        auto xs = typed(X, x);
        s = strided_sum4((Ix)threadIdx.x, (Ix)T, (Ix)blockDim.x,
                         [&](Ix t) { return gp[t * (Ix)H + h] * to_f(xs[t * (Ix)C + c]); });
    }, xdt);
    s = block_sum(s);
    if (threadIdx.x == 0) acc_grad(dw, dwdt, blockIdx.x, s);
}

// gate[p] = σ(x[p,:G]·w); out[p] = x[p] + λ·gate[p]·x[p−1] (p ≥ 1), out[0] = x[0]. One thread per
// (p, 8 c's or one c), each recomputing the G-term dot once. out must not alias x (row p reads row p − 1).
extern "C" __global__ void smear(void* out, int odt, float* gate, const void* x, int xdt, const void* w, int wdt,
                                 const void* lambda, int ldt, int T, int C, int G) {
    float lam = ld(lambda, ldt, 0);
    dispatch((long long)T * C, [&](auto I, auto O, auto X, auto Wt) {
        using Ix = typename decltype(I)::type;
        auto os = typed(O, out);
        auto xs = typed(X, x);
        auto ws = typed(Wt, w);
        rows_each((Ix)T, (Ix)C, C % VEC == 0 && aligned16(out, x), [&](auto wd, Ix p, Ix c) {
            constexpr int W = W_OF(wd);
            float z = 0.0f;
            for (int k = 0; k < G; k++) z += to_f(xs[p * (Ix)C + k]) * to_f(ws[k]);
            float g = 1.0f / (1.0f + expf(-z));
            Ix i = p * (Ix)C + c;
            float v[W], u[W];
            ldv(wd, xs + i, v);
            if (p >= 1) {
                ldv(wd, xs + i - (Ix)C, u);
                for (int k = 0; k < W; k++) v[k] += lam * g * u[k];
            }
            stv(wd, os + i, v);
            if (c == 0) gate[p] = g;
        });
    }, odt, xdt, wdt);
}

// dotp[p] = dOut[p]·x[p−1] for p ≥ 1, dotp[0] = 0; one warp per row, 8 per block.
extern "C" __global__ void smear_backward_dot(float* dotp, const void* dout, int ddt, const void* x, int xdt, int T,
                                              int C) {
    int p = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (p >= T) return;
    float s = 0.0f;
    if (p >= 1)
        dispatch((long long)T * C, [&](auto I, auto G, auto X) {
            using Ix = typename decltype(I)::type;
            auto gs = typed(G, dout) + (Ix)p * (Ix)C;
            auto xs = typed(X, x) + (Ix)(p - 1) * (Ix)C;
            for_each_in((Ix)C, aligned16(gs, xs), (Ix)lane, (Ix)32, [&](auto w, Ix c) {
                float a[W_OF(w)], b[W_OF(w)];
                ldv(w, gs + c, a);
                ldv(w, xs + c, b);
                for (int k = 0; k < W_OF(w); k++) s += a[k] * b[k];
            });
        }, ddt, xdt);
    s = warp_sum(s);
    if (lane == 0) dotp[p] = s;
}

// dx[p,c] += dOut[p,c] + λ·gate[p+1]·dOut[p+1,c] + (c < G, p ≥ 1) λ·dotp[p]·gate(1−gate)[p]·w[c].
extern "C" __global__ void smear_backward_dx(void* dx, int dxdt, const void* dout, int ddt, const void* w, int wdt,
                                             const void* lambda, int ldt, const float* gate, const float* dotp,
                                             int T, int C, int G) {
    float lam = ld(lambda, ldt, 0);
    dispatch((long long)T * C, [&](auto I, auto DX, auto D, auto Wt) {
        using Ix = typename decltype(I)::type;
        auto dxs = typed(DX, dx);
        auto ds = typed(D, dout);
        auto ws = typed(Wt, w);
        rows_each((Ix)T, (Ix)C, C % VEC == 0 && aligned16(dx, dout), [&](auto wd, Ix p, Ix c) {
            constexpr int W = W_OF(wd);
            Ix i = p * (Ix)C + c;
            float d[W], v[W], n[W];
            ldv(wd, dxs + i, d);
            ldv(wd, ds + i, v);
            if (p + 1 < (Ix)T) {
                float gn = gate[p + 1];
                ldv(wd, ds + i + (Ix)C, n);
                for (int k = 0; k < W; k++) v[k] += lam * gn * n[k];
            }
            if (c < (Ix)G && p >= 1) {
                float g = gate[p], q = dotp[p];
                for (int k = 0; k < W; k++)
                    if (c + k < (Ix)G) v[k] += lam * q * g * (1.0f - g) * to_f(ws[c + k]);
            }
            for (int k = 0; k < W; k++) d[k] = d[k] + v[k];
            stv(wd, dxs + i, d);
        });
    }, dxdt, ddt, wdt);
}

// dw[c] += Σ_{p≥1} λ·dotp[p]·gate(1−gate)[p]·x[p,c]; dLambda += Σ_{p≥1} gate[p]·dotp[p].
// One block (grid = G + 1, block CudaOps.REDUCE_BLOCK): block c < G makes dw[c], block G makes
// dLambda. dw or dLambda may be null.
// Both are parameter gradients: a BF16 one gets the sum rounded to BF16 first (acc_grad).
extern "C" __global__ void smear_backward_params(void* dw, int dwdt, void* dlambda, int dldt, const void* x,
                                                 int xdt, const void* lambda, int ldt, const float* gate,
                                                 const float* dotp, int T, int C, int G) {
    float lam = ld(lambda, ldt, 0);
    int c = blockIdx.x;
    if (c < G && dw == nullptr) return;
    if (c == G && dlambda == nullptr) return;
    float s = 0.0f;
    dispatch((long long)T * C, [&](auto I, auto X) {
        using Ix = typename decltype(I)::type;
        auto xs = typed(X, x);
        s = strided_sum4((Ix)(1 + threadIdx.x), (Ix)T, (Ix)blockDim.x, [&](Ix p) {
            float g = gate[p];
            return c < G ? lam * dotp[p] * g * (1.0f - g) * to_f(xs[p * (Ix)C + c]) : g * dotp[p];
        });
    }, xdt);
    s = block_sum(s);
    if (threadIdx.x == 0) {
        if (c < G) acc_grad(dw, dwdt, c, s);
        else acc_grad(dlambda, dldt, 0, s);
    }
}
