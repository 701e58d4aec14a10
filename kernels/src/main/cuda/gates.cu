// Attention head gate and smear gate (sigmoid gates on the first G channels of the input).
#include "common.cuh"

// gate[t,h] = σ(x[t,:G]·w[h]); out[t,h,:] = y[t,h,:]·gate[t,h]. One thread per (t,h,d); each
// recomputes its G-term dot (G is small); out may alias y.
extern "C" __global__ void head_gate(void* out, int odt, float* gate, const void* y, int ydt, const void* x,
                                     int xdt, const void* w, int wdt, int T, int H, int D, int C, int G) {
    long long n = (long long)T * H * D;
    GRID_LOOP(i, n) {
        long long th = i / D;
        long long t = th / H;
        int h = (int)(th % H);
        float z = 0.0f;
        for (int c = 0; c < G; c++) z += ld(x, xdt, t * C + c) * ld(w, wdt, (long long)h * G + c);
        float g = 1.0f / (1.0f + expf(-z));
        st(out, odt, i, ld(y, ydt, i) * g);
        if (i % D == 0) gate[th] = g;
    }
}

// dy += dOut·gate; gp[t,h] = Σ_d dOut·y · gate(1−gate). One warp per (t,h), 8 per block.
extern "C" __global__ void head_gate_backward_dy(void* dy, int dydt, float* gp, const void* dout, int ddt,
                                                 const void* y, int ydt, const float* gate, int T, int H, int D) {
    long long th = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (th >= (long long)T * H) return;
    float g = gate[th], s = 0.0f;
    for (int d = lane; d < D; d += 32) {
        long long i = th * D + d;
        float go = ld(dout, ddt, i);
        s += go * ld(y, ydt, i);
        if (dy != nullptr) acc(dy, dydt, i, go * g);
    }
    s = warp_sum(s);
    if (lane == 0) gp[th] = s * g * (1.0f - g);
}

// dx[t,c] += Σ_h gp[t,h]·w[h,c] for c < G; one thread per (t,c).
extern "C" __global__ void head_gate_backward_dx(void* dx, int dxdt, const float* gp, const void* w, int wdt, int T,
                                                 int H, int C, int G) {
    long long n = (long long)T * G;
    GRID_LOOP(i, n) {
        long long t = i / G;
        int c = (int)(i % G);
        float s = 0.0f;
        for (int h = 0; h < H; h++) s += gp[t * H + h] * ld(w, wdt, (long long)h * G + c);
        acc(dx, dxdt, t * C + c, s);
    }
}

// dw[h,c] += Σ_t gp[t,h]·x[t,c]; one block per (h,c) (grid H·G), deterministic block reduction.
// A BF16 dw (the record's BF16 gate weights) gets the sum rounded to BF16 first (acc_grad).
extern "C" __global__ void head_gate_backward_dw(void* dw, int dwdt, const float* gp, const void* x, int xdt, int T,
                                                 int H, int C, int G) {
    int h = blockIdx.x / G, c = blockIdx.x % G;
    float s = 0.0f;
    for (long long t = threadIdx.x; t < T; t += blockDim.x) s += gp[t * H + h] * ld(x, xdt, t * C + c);
    s = block_sum(s);
    if (threadIdx.x == 0) acc_grad(dw, dwdt, blockIdx.x, s);
}

// gate[p] = σ(x[p,:G]·w); out[p] = x[p] + λ·gate[p]·x[p−1] (p ≥ 1), out[0] = x[0]. One thread per (p,c).
extern "C" __global__ void smear(void* out, int odt, float* gate, const void* x, int xdt, const void* w, int wdt,
                                 const void* lambda, int ldt, int T, int C, int G) {
    float lam = ld(lambda, ldt, 0);
    long long n = (long long)T * C;
    GRID_LOOP(i, n) {
        long long p = i / C;
        float z = 0.0f;
        for (int c = 0; c < G; c++) z += ld(x, xdt, p * C + c) * ld(w, wdt, c);
        float g = 1.0f / (1.0f + expf(-z));
        float v = ld(x, xdt, i);
        if (p >= 1) v += lam * g * ld(x, xdt, i - C);
        st(out, odt, i, v);
        if (i % C == 0) gate[p] = g;
    }
}

// dotp[p] = dOut[p]·x[p−1] for p ≥ 1, dotp[0] = 0; one warp per row, 8 per block.
extern "C" __global__ void smear_backward_dot(float* dotp, const void* dout, int ddt, const void* x, int xdt, int T,
                                              int C) {
    long long p = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (p >= T) return;
    float s = 0.0f;
    if (p >= 1)
        for (int c = lane; c < C; c += 32) s += ld(dout, ddt, p * C + c) * ld(x, xdt, (p - 1) * C + c);
    s = warp_sum(s);
    if (lane == 0) dotp[p] = s;
}

// dx[p,c] += dOut[p,c] + λ·gate[p+1]·dOut[p+1,c] + (c < G, p ≥ 1) λ·dotp[p]·gate(1−gate)[p]·w[c].
extern "C" __global__ void smear_backward_dx(void* dx, int dxdt, const void* dout, int ddt, const void* w, int wdt,
                                             const void* lambda, int ldt, const float* gate, const float* dotp,
                                             int T, int C, int G) {
    float lam = ld(lambda, ldt, 0);
    long long n = (long long)T * C;
    GRID_LOOP(i, n) {
        long long p = i / C;
        int c = (int)(i % C);
        float v = ld(dout, ddt, i);
        if (p + 1 < T) v += lam * gate[p + 1] * ld(dout, ddt, i + C);
        if (c < G && p >= 1) {
            float g = gate[p];
            v += lam * dotp[p] * g * (1.0f - g) * ld(w, wdt, c);
        }
        acc(dx, dxdt, i, v);
    }
}

// dw[c] += Σ_{p≥1} λ·dotp[p]·gate(1−gate)[p]·x[p,c]; dLambda += Σ_{p≥1} gate[p]·dotp[p].
// One block (grid = G + 1): block c < G makes dw[c], block G makes dLambda. dw or dLambda may be null.
// Both are parameter gradients: a BF16 one gets the sum rounded to BF16 first (acc_grad).
extern "C" __global__ void smear_backward_params(void* dw, int dwdt, void* dlambda, int dldt, const void* x,
                                                 int xdt, const void* lambda, int ldt, const float* gate,
                                                 const float* dotp, int T, int C, int G) {
    float lam = ld(lambda, ldt, 0);
    int c = blockIdx.x;
    if (c < G && dw == nullptr) return;
    if (c == G && dlambda == nullptr) return;
    float s = 0.0f;
    for (long long p = 1 + threadIdx.x; p < T; p += blockDim.x) {
        float g = gate[p];
        s += c < G ? lam * dotp[p] * g * (1.0f - g) * ld(x, xdt, p * C + c) : g * dotp[p];
    }
    s = block_sum(s);
    if (threadIdx.x == 0) {
        if (c < G) acc_grad(dw, dwdt, c, s);
        else acc_grad(dlambda, dldt, 0, s);
    }
}
