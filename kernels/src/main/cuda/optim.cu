// Optimizer updates (spec §5), elementwise, F32 math on F32/BF16 state.
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
