// Deterministic reductions: sum, sum of squares and dot products in two passes (fixed number of
// per-block partials, then one block adds them in a fixed order), so results never depend on
// scheduling. Also the per-matrix Frobenius normalisation and NorMuon's variance reduction.
#include "common.cuh"

// mode 0: Σ x; 1: Σ x²; 2: Σ x·y.  partials[blockIdx.x] receives the block's share.
extern "C" __global__ void red_partial(float* partials, const void* x, int xdt, const void* y, int ydt,
                                       long long n, int mode) {
    float s = 0.0f;
    GRID_LOOP(i, n) {
        float v = ld(x, xdt, i);
        s += mode == 0 ? v : (mode == 1 ? v * v : v * ld(y, ydt, i));
    }
    s = block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

// out[0] = coef·Σ partials (or += when accumulate). One block.
extern "C" __global__ void red_finish(void* out, int odt, const float* partials, int nparts, float coef,
                                      int accumulate) {
    float s = 0.0f;
    for (int i = threadIdx.x; i < nparts; i += blockDim.x) s += partials[i];
    s = block_sum(s);
    if (threadIdx.x == 0) st(out, odt, 0, coef * s + (accumulate ? ld(out, odt, 0) : 0.0f));
}

// Frobenius normalisation of a batch of matrices, pass 1: grid (parts, B); partials[b·parts + part].
extern "C" __global__ void frob_partial(float* partials, const void* x, int xdt, long long perMatrix) {
    long long base = (long long)blockIdx.y * perMatrix;
    float s = 0.0f;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < perMatrix;
         i += (long long)gridDim.x * blockDim.x) {
        float v = ld(x, xdt, base + i);
        s += v * v;
    }
    s = block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.y * gridDim.x + blockIdx.x] = s;
}

// Pass 2: out[b] = x[b] / (‖x[b]‖·factor + eps); grid (blocks, B); each thread re-adds the
// matrix's partials in the same order (deterministic, parts is small).
extern "C" __global__ void frob_scale(void* out, int odt, const void* x, int xdt, const float* partials, int parts,
                                      long long perMatrix, float factor, float eps) {
    float s = 0.0f;
    for (int i = 0; i < parts; i++) s += partials[blockIdx.y * parts + i];
    float inv = 1.0f / (sqrtf(s) * factor + eps);
    long long base = (long long)blockIdx.y * perMatrix;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < perMatrix;
         i += (long long)gridDim.x * blockDim.x)
        st(out, odt, base + i, ld(x, xdt, base + i) * inv);
}

// NorMuon variance reduction, step 1: one block per row (grid = B·R): mu[row] = mean_c v²,
// s2 ← s2 + (1−β2)(mu − s2), rho[row] = rsqrt(max(s2, 1e-10)).
extern "C" __global__ void vr_rows(float* mu, float* rho, const void* v, int vdt, void* s2, int s2dt, int C,
                                   float beta2) {
    long long row = blockIdx.x;
    float s = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float e = ld(v, vdt, row * C + c);
        s += e * e;
    }
    s = block_sum(s);
    if (threadIdx.x == 0) {
        float m = s / (float)C;
        float old = ld(s2, s2dt, row);
        float nw = old + (1.0f - beta2) * (m - old);
        st(s2, s2dt, row, nw);
        float stored = ld(s2, s2dt, row); // rho from the state as stored (BF16 state rounds)
        mu[row] = m;
        rho[row] = rsqrtf(fmaxf(stored, 1e-10f));
    }
}

// Step 2: one block per matrix: scale[b] = n / max(n', 1e-10) with n = sqrt(Σ mu·C),
// n' = sqrt(Σ mu·C·rho²).
extern "C" __global__ void vr_matrix(float* scale, const float* mu, const float* rho, int R, int C) {
    long long base = (long long)blockIdx.x * R;
    float a = 0.0f, b = 0.0f;
    for (int r = threadIdx.x; r < R; r += blockDim.x) {
        float m = mu[base + r] * (float)C, q = rho[base + r];
        a += m;
        b += m * q * q;
    }
    a = block_sum(a);
    b = block_sum(b);
    if (threadIdx.x == 0) scale[blockIdx.x] = sqrtf(a) / fmaxf(sqrtf(b), 1e-10f);
}

// Step 3: v[b, r, :] *= rho[b·R + r]·scale[b]; one block per row (grid = B·R).
extern "C" __global__ void vr_apply(void* v, int vdt, const float* rho, const float* scale, int R, int C) {
    long long row = blockIdx.x;
    float f = rho[row] * scale[row / R];
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        long long i = row * C + c;
        st(v, vdt, i, ld(v, vdt, i) * f);
    }
}
