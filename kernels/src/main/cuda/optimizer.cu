// Optimizer kernels (spec §5), F32 math on F32/BF16 state: the elementwise updates, then the
// per-matrix Frobenius normalisation and NorMuon's variance reduction (deterministic block reductions).
#include "common.cuh"

// Adam: m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²; u = m/(√v + eps)·stepScale with
// stepScale = lr·√(1−β2ᵗ)/(1−β1ᵗ) (computed on the host in double); u += p·mask(u·p)·decay; p −= u.
// The update uses m and v as stored (BF16 moments round before use, as in the record).
extern "C" __global__ void adam_step(void* p, int pdt, const void* g, int gdt, void* m, int mdt, void* v, int vdt,
                                     long long n, float beta1, float beta2, float eps, float stepScale, float decay,
                                     int mask) {
    GRID_LOOP(i, n) {
        float gi = ld(g, gdt, i);
        st(m, mdt, i, beta1 * ld(m, mdt, i) + (1.0f - beta1) * gi);
        st(v, vdt, i, beta2 * ld(v, vdt, i) + (1.0f - beta2) * gi * gi);
        float mi = ld(m, mdt, i), vi = ld(v, vdt, i);
        float u = mi / (sqrtf(vi) + eps) * stepScale;
        float pi = ld(p, pdt, i);
        u += pi * decay_mask(mask, u * pi) * decay;
        st(p, pdt, i, pi - u);
    }
}

// buf = μ·buf + (1−μ)·g; update = (1−μ)·g + μ·buf. update may alias g.
extern "C" __global__ void muon_momentum(void* update, int udt, void* buf, int bdt, const void* g, int gdt,
                                         long long n, float momentum) {
    GRID_LOOP(i, n) {
        float gi = ld(g, gdt, i);
        st(buf, bdt, i, momentum * ld(buf, bdt, i) + (1.0f - momentum) * gi);
        st(update, udt, i, (1.0f - momentum) * gi + momentum * ld(buf, bdt, i));
    }
}

// p ← p − p·mask(v·p)·decay − v·lr.
extern "C" __global__ void decayed_update(void* p, int pdt, const void* v, int vdt, long long n, float lr,
                                          float decay, int mask) {
    GRID_LOOP(i, n) {
        float pi = ld(p, pdt, i), vi = ld(v, vdt, i);
        st(p, pdt, i, pi - pi * decay_mask(mask, vi * pi) * decay - vi * lr);
    }
}

// Frobenius normalisation of a batch of matrices, pass 1: grid (parts, B); partials[b·parts + part].
extern "C" __global__ void frobenius_normalize_partial(float* partials, const void* x, int xdt,
                                                       long long perMatrix) {
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
extern "C" __global__ void frobenius_normalize_scale(void* out, int odt, const void* x, int xdt,
                                                     const float* partials, int parts, long long perMatrix,
                                                     float factor, float eps) {
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
extern "C" __global__ void variance_reduce_rows(float* mu, float* rho, const void* v, int vdt, void* s2, int s2dt,
                                                int C, float beta2) {
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
extern "C" __global__ void variance_reduce_matrix(float* scale, const float* mu, const float* rho, int R, int C) {
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
extern "C" __global__ void variance_reduce_apply(void* v, int vdt, const float* rho, const float* scale, int R,
                                                 int C) {
    long long row = blockIdx.x;
    float f = rho[row] * scale[row / R];
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        long long i = row * C + c;
        st(v, vdt, i, ld(v, vdt, i) * f);
    }
}
