// Soft-capped cross-entropy with multi-token-prediction weights; loss and gradient in one kernel.
#include "common.cuh"

#define MTP_MAX 8   // CudaOps.MTP_MAX

// One block per row p. ℓ = cap·σ(z/divisor). Pass 1: running max and sum of exp(ℓ) (per thread,
// then combined). losses[p] = Σ_{j<K, p+j<T} w_j·m[p+j]·(lse − ℓ[tgt[p+j]]).
// Pass 2 (dlogits != null): dz = gradScale·(W·softmax(ℓ) − Σ_j c_j·[v = tgt_j])·(cap/div)·s(1−s),
// W = Σ_j c_j, c_j = w_j·m[p+j]. dlogits may alias logits (each element is read before written).
// mw: the K multi-token weights [MTP_MAX] F32 in device memory (not by value: they change every
// step, and a launch with unchanged parameters can be replayed from a CUDA graph).
extern "C" __global__ void softcap_cross_entropy(void* losses, int lossdt, void* dlogits, int dldt,
                                                 const void* logits, int zdt, const int* targets, const void* tw,
                                                 int twdt, const float* mw, int K, int T, int V, float cap,
                                                 float divisor, float gradScale) {
    long long p = blockIdx.x;
    long long base = p * V;
    float mx = -INFINITY, sm = 0.0f;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float l = cap / (1.0f + expf(-ld(logits, zdt, base + v) / divisor));
        if (l > mx) { sm = sm * expf(mx - l) + 1.0f; mx = l; }
        else sm += expf(l - mx);
    }
    float gmx = block_max(mx);
    float gsum = block_sum(mx == -INFINITY ? 0.0f : sm * expf(mx - gmx));
    float lse = gmx + logf(gsum);
    float coef[MTP_MAX];
    int tgt[MTP_MAX];
    float W = 0.0f;
    for (int j = 0; j < MTP_MAX; j++) {
        coef[j] = 0.0f;
        tgt[j] = -1;
        if (j < K && p + j < T) {
            coef[j] = mw[j] * (tw == nullptr ? 1.0f : ld(tw, twdt, p + j));
            tgt[j] = targets[p + j];
            W += coef[j];
        }
    }
    if (threadIdx.x == 0) {
        float loss = 0.0f;
        for (int j = 0; j < K && j < MTP_MAX; j++)
            if (p + j < T && tgt[j] >= 0 && tgt[j] < V) {
                float lt = cap / (1.0f + expf(-ld(logits, zdt, base + tgt[j]) / divisor));
                loss += coef[j] * (lse - lt);
            } else if (p + j < T && coef[j] != 0.0f) {
                loss = __int_as_float(0x7fc00000);   // target id outside the vocabulary
            }
        st(losses, lossdt, p, loss);
    }
    if (dlogits == nullptr) return;
    __syncthreads();   // thread 0 read logits above; dlogits may alias them
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float s = 1.0f / (1.0f + expf(-ld(logits, zdt, base + v) / divisor));
        float l = cap * s;
        float g = W * expf(l - lse);
        for (int j = 0; j < MTP_MAX; j++) if (tgt[j] == v) g -= coef[j];
        st(dlogits, dldt, base + v, gradScale * g * (cap / divisor) * s * (1.0f - s));
    }
}
