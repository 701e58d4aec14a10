// Half-truncated rotary embedding and the key shift of the long-window layers.
#include "common.cuh"

// One thread per (t, h, 8 consecutive j < D/2) where D/2 % 8 == 0 and the tensors are 16-byte
// aligned (the two halves and freqs then load as vectors), per (t, h, j) otherwise. θ = t·freqs[j]
// is formed and rotated in double: positions reach ~10⁵, where an F32 angle would already be off
// by ~1e-2 rad.
// rotary (sign = +1): out = [u cosθ + w sinθ, −u sinθ + w cosθ]; rotary_backward (sign = −1,
// accumulate = 1): dx += R(−θ)·dOut. out may alias x (each thread reads its pairs before writing them).
extern "C" __global__ void rotary(void* out, int odt, const void* x, int xdt, const void* freqs, int fdt, int T,
                                  int H, int D, float sign, int accumulate) {
    int half = D / 2;
    dispatch((long long)T * H * D, [&](auto I, auto O, auto X, auto F) {
        using Ix = typename decltype(I)::type;
        auto os = typed(O, out);
        auto xs = typed(X, x);
        auto fs = typed(F, freqs);
        bool vec = half % VEC == 0 && aligned16(out, x, freqs);
        rows_each((Ix)T * (Ix)H, (Ix)half, vec, [&](auto w, Ix th, Ix j) {
            constexpr int W = W_OF(w);
            Ix t = th / (Ix)H, base = th * (Ix)D;
            float f[W], u[W], v[W], a[W], b[W];
            ldv(w, fs + j, f);
            ldv(w, xs + base + j, u);
            ldv(w, xs + base + half + j, v);
            for (int k = 0; k < W; k++) {
                double s, c;
                sincos((double)t * (double)f[k], &s, &c);
                float sn = (float)s * sign, cs = (float)c;
                a[k] = u[k] * cs + v[k] * sn;
                b[k] = -u[k] * sn + v[k] * cs;
            }
            if (accumulate) {
                float p[W], q[W];
                ldv(w, os + base + j, p);
                ldv(w, os + base + half + j, q);
                for (int k = 0; k < W; k++) {
                    a[k] = p[k] + a[k];
                    b[k] = q[k] + b[k];
                }
            }
            stv(w, os + base + j, a);
            stv(w, os + base + half + j, b);
        });
    }, odt, xdt, fdt);
}

__device__ __forceinline__ bool shifted_dim(int d, int D) {
    return (d >= D / 4 && d < D / 2) || (d >= 3 * D / 4);
}

// out[p, h, d] = x[p−1, h, d] for p ≥ 1 and d in [D/4, D/2) ∪ [3D/4, D); else x[p, h, d]. Vectors
// of 8 along d where D % 32 == 0 (each vector then lies wholly inside or outside the shifted
// ranges) and both tensors are 16-byte aligned. out must not alias x (row p reads row p − 1).
extern "C" __global__ void key_shift(void* out, int odt, const void* x, int xdt, int T, int H, int D) {
    dispatch((long long)T * H * D, [&](auto I, auto O, auto X) {
        using Ix = typename decltype(I)::type;
        auto os = typed(O, out);
        auto xs = typed(X, x);
        Ix HD = (Ix)H * (Ix)D;
        rows_each((Ix)T, HD, D % 32 == 0 && aligned16(out, x), [&](auto w, Ix p, Ix c) {
            float v[W_OF(w)];
            int d = (int)(c % (Ix)D);
            Ix i = p * HD + c;
            ldv(w, xs + ((p >= 1 && shifted_dim(d, D)) ? i - HD : i), v);
            stv(w, os + i, v);
        });
    }, odt, xdt);
}

// dx += Sᵀ·dOut: shifted dims of dx[q] take dOut[q+1] (q+1 < T), and dOut[0] when q = 0;
// the other dims take dOut[q]. Vectorised as key_shift.
extern "C" __global__ void key_shift_backward(void* dx, int dxdt, const void* dout, int ddt, int T, int H, int D) {
    dispatch((long long)T * H * D, [&](auto I, auto DX, auto G) {
        using Ix = typename decltype(I)::type;
        auto dxs = typed(DX, dx);
        auto gs = typed(G, dout);
        Ix HD = (Ix)H * (Ix)D;
        rows_each((Ix)T, HD, D % 32 == 0 && aligned16(dx, dout), [&](auto w, Ix q, Ix c) {
            constexpr int W = W_OF(w);
            float d[W], g[W], h[W];
            int dim = (int)(c % (Ix)D);
            Ix i = q * HD + c;
            ldv(w, dxs + i, d);
            if (shifted_dim(dim, D)) {
                if (q + 1 < (Ix)T) ldv(w, gs + i + HD, g);
                else for (int k = 0; k < W; k++) g[k] = 0.0f;
                if (q == 0) {
                    ldv(w, gs + i, h);
                    for (int k = 0; k < W; k++) g[k] += h[k];
                }
            } else {
                ldv(w, gs + i, g);
            }
            for (int k = 0; k < W; k++) d[k] = d[k] + g[k];
            stv(w, dxs + i, d);
        });
    }, dxdt, ddt);
}
