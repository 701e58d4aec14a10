// Half-truncated rotary embedding and the key shift of the long-window layers.
#include "common.cuh"

// One thread per (t, h, j < D/2). θ = t·freqs[j] is formed and rotated in double: positions reach
// ~10⁵, where an F32 angle would already be off by ~1e-2 rad.
// rotary (sign = +1): out = [u cosθ + w sinθ, −u sinθ + w cosθ]; rotary_backward (sign = −1,
// accumulate = 1): dx += R(−θ)·dOut. out may alias x (each thread reads its pair before writing it).
extern "C" __global__ void rotary(void* out, int odt, const void* x, int xdt, const void* freqs, int fdt, int T,
                                  int H, int D, float sign, int accumulate) {
    int half = D / 2;
    long long n = (long long)T * H * half;
    GRID_LOOP(idx, n) {
        int j = (int)(idx % half);
        long long th = idx / half;           // t·H + h
        long long t = th / H;
        long long base = th * D;
        double s, c;
        sincos((double)t * (double)ld(freqs, fdt, j), &s, &c);
        float sn = (float)s * sign, cs = (float)c;
        float u = ld(x, xdt, base + j), w = ld(x, xdt, base + half + j);
        float a = u * cs + w * sn, b = -u * sn + w * cs;
        if (accumulate) {
            acc(out, odt, base + j, a);
            acc(out, odt, base + half + j, b);
        } else {
            st(out, odt, base + j, a);
            st(out, odt, base + half + j, b);
        }
    }
}

__device__ __forceinline__ bool shifted_dim(int d, int D) {
    return (d >= D / 4 && d < D / 2) || (d >= 3 * D / 4);
}

// out[p, h, d] = x[p−1, h, d] for p ≥ 1 and d in [D/4, D/2) ∪ [3D/4, D); else x[p, h, d].
extern "C" __global__ void key_shift(void* out, int odt, const void* x, int xdt, int T, int H, int D) {
    long long HD = (long long)H * D;
    long long n = (long long)T * HD;
    GRID_LOOP(i, n) {
        long long p = i / HD;
        int d = (int)(i % D);
        st(out, odt, i, (p >= 1 && shifted_dim(d, D)) ? ld(x, xdt, i - HD) : ld(x, xdt, i));
    }
}

// dx += Sᵀ·dOut: shifted dims of dx[q] take dOut[q+1] (q+1 < T), and dOut[0] when q = 0;
// the other dims take dOut[q].
extern "C" __global__ void key_shift_backward(void* dx, int dxdt, const void* dout, int ddt, int T, int H, int D) {
    long long HD = (long long)H * D;
    long long n = (long long)T * HD;
    GRID_LOOP(i, n) {
        long long q = i / HD;
        int d = (int)(i % D);
        float g;
        if (shifted_dim(d, D)) {
            g = (q + 1 < T) ? ld(dout, ddt, i + HD) : 0.0f;
            if (q == 0) g += ld(dout, ddt, i);
        } else {
            g = ld(dout, ddt, i);
        }
        acc(dx, dxdt, i, g);
    }
}
