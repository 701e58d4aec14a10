// Optimizer kernels (spec §5), F32 math on F32/BF16 state: the elementwise updates, then the
// per-matrix Frobenius normalisation and NorMuon's variance reduction (deterministic block reductions).
#include "common.cuh"

// Adam: m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²; u = m/(√v + eps)·stepScale with
// stepScale = lr·√(1−β2ᵗ)/(1−β1ᵗ) (computed on the host in double); u += p·mask(u·p)·decay; p −= u.
// The update uses m and v as stored (BF16 moments round before use, as in the record).
extern "C" __global__ void adam_step(void* p, int pdt, const void* g, int gdt, void* m, int mdt, void* v, int vdt,
                                     long long n, float beta1, float beta2, float eps, float stepScale, float decay,
                                     int mask) {
    dispatch(n, [&](auto I, auto P, auto G, auto M, auto V) {
        using TM = typename decltype(M)::type;
        using TV = typename decltype(V)::type;
        auto ps = typed(P, p);
        auto gs = typed(G, g);
        auto ms = typed(M, m);
        auto vs = typed(V, v);
        for_each((typename decltype(I)::type)n, aligned16(p, g, m, v), [&](auto w, auto i) {
            float pi[W_OF(w)], gi[W_OF(w)], mi[W_OF(w)], vi[W_OF(w)];
            ldv(w, gs + i, gi);
            ldv(w, ms + i, mi);
            ldv(w, vs + i, vi);
            ldv(w, ps + i, pi);
            for (int k = 0; k < W_OF(w); k++) {
                mi[k] = beta1 * mi[k] + (1.0f - beta1) * gi[k];
                vi[k] = beta2 * vi[k] + (1.0f - beta2) * gi[k] * gi[k];
                float ms_ = round_to<TM>(mi[k]), vs_ = round_to<TV>(vi[k]);   // as stored
                float u = ms_ / (sqrtf(vs_) + eps) * stepScale;
                u += pi[k] * decay_mask(mask, u * pi[k]) * decay;
                pi[k] = pi[k] - u;
            }
            stv(w, ms + i, mi);
            stv(w, vs + i, vi);
            stv(w, ps + i, pi);
        });
    }, pdt, gdt, mdt, vdt);
}

// buf = μ·buf + (1−μ)·g; update = (1−μ)·g + μ·buf. update may alias g.
extern "C" __global__ void muon_momentum(void* update, int udt, void* buf, int bdt, const void* g, int gdt,
                                         long long n, float momentum) {
    dispatch(n, [&](auto I, auto U, auto B, auto G) {
        using TB = typename decltype(B)::type;
        auto us = typed(U, update);
        auto bs = typed(B, buf);
        auto gs = typed(G, g);
        for_each((typename decltype(I)::type)n, aligned16(update, buf, g), [&](auto w, auto i) {
            float gi[W_OF(w)], bi[W_OF(w)], ui[W_OF(w)];
            ldv(w, gs + i, gi);
            ldv(w, bs + i, bi);
            for (int k = 0; k < W_OF(w); k++) {
                bi[k] = momentum * bi[k] + (1.0f - momentum) * gi[k];
                ui[k] = (1.0f - momentum) * gi[k] + momentum * round_to<TB>(bi[k]);   // buf as stored
            }
            stv(w, bs + i, bi);
            stv(w, us + i, ui);
        });
    }, udt, bdt, gdt);
}

// p ← p − p·mask(v·p)·decay − v·lr.
extern "C" __global__ void decayed_update(void* p, int pdt, const void* v, int vdt, long long n, float lr,
                                          float decay, int mask) {
    dispatch(n, [&](auto I, auto P, auto V) {
        auto ps = typed(P, p);
        auto vs = typed(V, v);
        for_each((typename decltype(I)::type)n, aligned16(p, v), [&](auto w, auto i) {
            float pi[W_OF(w)], vi[W_OF(w)];
            ldv(w, ps + i, pi);
            ldv(w, vs + i, vi);
            for (int k = 0; k < W_OF(w); k++) pi[k] = pi[k] - pi[k] * decay_mask(mask, vi[k] * pi[k]) * decay - vi[k] * lr;
            stv(w, ps + i, pi);
        });
    }, pdt, vdt);
}

// Frobenius normalisation of a batch of matrices, pass 1: grid (parts, B); partials[b·parts + part].
extern "C" __global__ void frobenius_normalize_partial(float* partials, const void* x, int xdt,
                                                       long long perMatrix) {
    float s = 0.0f;
    dispatch((long long)gridDim.y * perMatrix, [&](auto I, auto X) {
        using Ix = typename decltype(I)::type;
        auto xs = typed(X, x) + (Ix)blockIdx.y * (Ix)perMatrix;
        for_each((Ix)perMatrix, aligned16(xs), [&](auto w, auto i) {
            float v[W_OF(w)];
            ldv(w, xs + i, v);
            for (int k = 0; k < W_OF(w); k++) s += v[k] * v[k];
        });
    }, xdt);
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
    dispatch((long long)gridDim.y * perMatrix, [&](auto I, auto O, auto X) {
        using Ix = typename decltype(I)::type;
        Ix base = (Ix)blockIdx.y * (Ix)perMatrix;
        auto os = typed(O, out) + base;
        auto xs = typed(X, x) + base;
        for_each((Ix)perMatrix, aligned16(os, xs), [&](auto w, auto i) {
            float v[W_OF(w)];
            ldv(w, xs + i, v);
            for (int k = 0; k < W_OF(w); k++) v[k] = v[k] * inv;
            stv(w, os + i, v);
        });
    }, odt, xdt);
}

// NorMuon variance reduction, step 1: one block per row (grid = B·R): mu[row] = mean_c v²,
// s2 ← s2 + (1−β2)(mu − s2), rho[row] = rsqrt(max(s2, 1e-10)).
extern "C" __global__ void variance_reduce_rows(float* mu, float* rho, const void* v, int vdt, void* s2, int s2dt,
                                                int C, float beta2) {
    int row = blockIdx.x;
    float s = 0.0f;
    dispatch((long long)gridDim.x * C, [&](auto I, auto V) {
        using Ix = typename decltype(I)::type;
        auto vs = typed(V, v) + (Ix)row * (Ix)C;
        for_each_in((Ix)C, aligned16(vs), (Ix)threadIdx.x, (Ix)blockDim.x, [&](auto w, auto i) {
            float e[W_OF(w)];
            ldv(w, vs + i, e);
            for (int k = 0; k < W_OF(w); k++) s += e[k] * e[k];
        });
    }, vdt);
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
    int row = blockIdx.x;
    float f = rho[row] * scale[row / R];
    dispatch((long long)gridDim.x * C, [&](auto I, auto V) {
        using Ix = typename decltype(I)::type;
        auto vs = typed(V, v) + (Ix)row * (Ix)C;
        for_each_in((Ix)C, aligned16(vs), (Ix)threadIdx.x, (Ix)blockDim.x, [&](auto w, auto i) {
            float e[W_OF(w)];
            ldv(w, vs + i, e);
            for (int k = 0; k < W_OF(w); k++) e[k] = e[k] * f;
            stv(w, vs + i, e);
        });
    }, vdt);
}
