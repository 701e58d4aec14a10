// Causal sliding-window attention over packed documents (flash-attention style, F32 online softmax).
// Layout: q, k, v, out [T, H, D] (D ≤ 128), lse and delta [H, T], cu [S] I32 document starts padded
// with T. Query p of document [s, e) sees keys lo(p) = max(s, p − window) .. p; lo is
// non-decreasing in p, so a block of consecutive queries needs one contiguous key range.
// Launch: block = ATT_WARPS warps (one query or key per warp), grid = (ceil(T / ATT_WARPS), H).
#include "common.cuh"

#define ATT_WARPS 8
#define ATT_BK 32
#define ATT_MAXD 128
#define ATT_DPL (ATT_MAXD / 32)

// Start of the document holding position p: the largest cu[i] ≤ p (cu[0] = 0).
__device__ __forceinline__ int doc_start(const int* cu, int S, int p) {
    int lo = 0, hi = S - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) >> 1;
        if (cu[mid] <= p) lo = mid; else hi = mid - 1;
    }
    return cu[lo];
}

// End (exclusive) of the document holding p: the smallest cu[i] > p (cu[S−1] = T > p).
__device__ __forceinline__ int doc_end(const int* cu, int S, int p) {
    int lo = 0, hi = S - 1;
    while (lo < hi) {
        int mid = (lo + hi) >> 1;
        if (cu[mid] > p) hi = mid; else lo = mid + 1;
    }
    return cu[lo];
}

__device__ __forceinline__ int key_lo(const int* cu, int S, int p, int window) {
    return max(doc_start(cu, S, p), p - window);
}

__device__ __forceinline__ int query_hi(const int* cu, int S, int j, int window, int T) {
    return min(min(doc_end(cu, S, j), T) - 1, j + window);
}

// Loads rows [r0, r0 + ATT_BK) (rows > last read as 0) of a [T, H, D] tensor's head h into a tile.
__device__ __forceinline__ void load_tile(float (*tile)[ATT_MAXD + 1], const void* src, int dt, int r0, int last,
                                          int h, int H, int D) {
    for (int idx = threadIdx.x; idx < ATT_BK * D; idx += blockDim.x) {
        int j = idx / D, d = idx % D, r = r0 + j;
        tile[j][d] = r <= last ? ld(src, dt, ((long long)r * H + h) * D + d) : 0.0f;
    }
}

extern "C" __global__ void attention(void* out, int odt, float* lse, const void* q, int qdt, const void* k, int kdt,
                                     const void* v, int vdt, const int* cu, int S, int T, int H, int D, int window,
                                     float scale) {
    __shared__ float Ks[ATT_BK][ATT_MAXD + 1];
    __shared__ float Vs[ATT_BK][ATT_MAXD + 1];
    __shared__ float Qs[ATT_WARPS][ATT_MAXD];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, h = blockIdx.y;
    int p0 = blockIdx.x * ATT_WARPS, p = p0 + warp;
    int last = min(p0 + ATT_WARPS, T) - 1;
    bool active = p < T;
    int lo = active ? key_lo(cu, S, p, window) : 0;
    if (active)
        for (int d = lane; d < D; d += 32) Qs[warp][d] = ld(q, qdt, ((long long)p * H + h) * D + d) * scale;
    float m = -INFINITY, l = 0.0f, o[ATT_DPL];
    for (int i = 0; i < ATT_DPL; i++) o[i] = 0.0f;
    for (int kt = key_lo(cu, S, p0, window); kt <= last; kt += ATT_BK) {
        __syncthreads();
        load_tile(Ks, k, kdt, kt, last, h, H, D);
        load_tile(Vs, v, vdt, kt, last, h, H, D);
        __syncthreads();
        if (!active || kt > p || kt + ATT_BK - 1 < lo) continue;   // warp-uniform
        int key = kt + lane;
        float s = -INFINITY;
        if (key >= lo && key <= p) {
            s = 0.0f;
            for (int d = 0; d < D; d++) s += Qs[warp][d] * Ks[lane][d];
        }
        float mnew = fmaxf(m, warp_max(s));
        float pj = key >= lo && key <= p ? expf(s - mnew) : 0.0f;
        float corr = expf(m - mnew);
        l = l * corr + warp_sum(pj);
        for (int i = 0; i < ATT_DPL; i++) o[i] *= corr;
        for (int j = 0; j < ATT_BK; j++) {
            float pb = __shfl_sync(0xffffffffu, pj, j);
            for (int i = 0; i < ATT_DPL; i++) {
                int d = lane + 32 * i;
                if (d < D) o[i] += pb * Vs[j][d];
            }
        }
        m = mnew;
    }
    if (!active) return;
    float inv = 1.0f / l;
    for (int i = 0; i < ATT_DPL; i++) {
        int d = lane + 32 * i;
        if (d < D) st(out, odt, ((long long)p * H + h) * D + d, o[i] * inv);
    }
    if (lane == 0) lse[(long long)h * T + p] = m + logf(l);
}

// delta[h, t] = Σ_d dOut[t, h, d]·out[t, h, d]; one warp per (t, h), 8 per block, grid ceil(T·H / 8).
extern "C" __global__ void attention_backward_delta(float* delta, const void* dout, int ddt, const void* out,
                                                    int odt, int T, int H, int D) {
    long long th = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (th >= (long long)T * H) return;
    float s = 0.0f;
    for (int d = lane; d < D; d += 32) s += ld(dout, ddt, th * D + d) * ld(out, odt, th * D + d);
    s = warp_sum(s);
    if (lane == 0) delta[(th % H) * T + th / H] = s;
}

// dq += scale·Σ_j P_ij (dP_ij − delta_i) k_j, recomputing P from lse (query-centric, one warp per query).
extern "C" __global__ void attention_backward_dq(void* dq, int dqdt, const void* dout, int ddt, const void* q,
                                                 int qdt, const void* k, int kdt, const void* v, int vdt,
                                                 const float* lse, const float* delta, const int* cu, int S, int T,
                                                 int H, int D, int window, float scale) {
    __shared__ float Ks[ATT_BK][ATT_MAXD + 1];
    __shared__ float Vs[ATT_BK][ATT_MAXD + 1];
    __shared__ float Qs[ATT_WARPS][ATT_MAXD];
    __shared__ float Gs[ATT_WARPS][ATT_MAXD];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, h = blockIdx.y;
    int p0 = blockIdx.x * ATT_WARPS, p = p0 + warp;
    int last = min(p0 + ATT_WARPS, T) - 1;
    bool active = p < T;
    int lo = active ? key_lo(cu, S, p, window) : 0;
    float L = 0.0f, Dl = 0.0f;
    if (active) {
        for (int d = lane; d < D; d += 32) {
            long long i = ((long long)p * H + h) * D + d;
            Qs[warp][d] = ld(q, qdt, i) * scale;
            Gs[warp][d] = ld(dout, ddt, i);
        }
        L = lse[(long long)h * T + p];
        Dl = delta[(long long)h * T + p];
    }
    float a[ATT_DPL];
    for (int i = 0; i < ATT_DPL; i++) a[i] = 0.0f;
    for (int kt = key_lo(cu, S, p0, window); kt <= last; kt += ATT_BK) {
        __syncthreads();
        load_tile(Ks, k, kdt, kt, last, h, H, D);
        load_tile(Vs, v, vdt, kt, last, h, H, D);
        __syncthreads();
        if (!active || kt > p || kt + ATT_BK - 1 < lo) continue;
        int key = kt + lane;
        float ds = 0.0f;
        if (key >= lo && key <= p) {
            float s = 0.0f, dp = 0.0f;
            for (int d = 0; d < D; d++) {
                s += Qs[warp][d] * Ks[lane][d];
                dp += Gs[warp][d] * Vs[lane][d];
            }
            ds = expf(s - L) * (dp - Dl);
        }
        for (int j = 0; j < ATT_BK; j++) {
            float b = __shfl_sync(0xffffffffu, ds, j);
            for (int i = 0; i < ATT_DPL; i++) {
                int d = lane + 32 * i;
                if (d < D) a[i] += b * Ks[j][d];
            }
        }
    }
    if (!active) return;
    for (int i = 0; i < ATT_DPL; i++) {
        int d = lane + 32 * i;
        if (d < D) acc(dq, dqdt, ((long long)p * H + h) * D + d, a[i] * scale);
    }
}

// dk_j += scale·Σ_i P_ij (dP_ij − delta_i) q_i and dv_j += Σ_i P_ij dOut_i (key-centric, one warp per
// key; queries i = j .. min(doc_end(j) − 1, j + window)). No atomics: deterministic.
extern "C" __global__ void attention_backward_dkv(void* dk, int dkdt, void* dv, int dvdt, const void* dout, int ddt,
                                                  const void* q, int qdt, const void* k, int kdt, const void* v,
                                                  int vdt, const float* lse, const float* delta, const int* cu,
                                                  int S, int T, int H, int D, int window, float scale) {
    __shared__ float Qs[ATT_BK][ATT_MAXD + 1];
    __shared__ float Gs[ATT_BK][ATT_MAXD + 1];
    __shared__ float Kw[ATT_WARPS][ATT_MAXD];
    __shared__ float Vw[ATT_WARPS][ATT_MAXD];
    __shared__ float Ls[ATT_BK], Ds[ATT_BK];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, h = blockIdx.y;
    int j0 = blockIdx.x * ATT_WARPS, j = j0 + warp;
    int jlast = min(j0 + ATT_WARPS, T) - 1;
    bool active = j < T;
    int hi = active ? query_hi(cu, S, j, window, T) : 0;
    int last = query_hi(cu, S, jlast, window, T);
    if (active)
        for (int d = lane; d < D; d += 32) {
            long long i = ((long long)j * H + h) * D + d;
            Kw[warp][d] = ld(k, kdt, i) * scale;
            Vw[warp][d] = ld(v, vdt, i);
        }
    float ak[ATT_DPL], av[ATT_DPL];
    for (int i = 0; i < ATT_DPL; i++) ak[i] = av[i] = 0.0f;
    for (int qt = j0; qt <= last; qt += ATT_BK) {
        __syncthreads();
        load_tile(Qs, q, qdt, qt, last, h, H, D);
        load_tile(Gs, dout, ddt, qt, last, h, H, D);
        if (threadIdx.x < ATT_BK) {
            int r = qt + threadIdx.x;
            Ls[threadIdx.x] = r <= last ? lse[(long long)h * T + r] : 0.0f;
            Ds[threadIdx.x] = r <= last ? delta[(long long)h * T + r] : 0.0f;
        }
        __syncthreads();
        if (!active || qt > hi || qt + ATT_BK - 1 < j) continue;
        int qi = qt + lane;
        float pr = 0.0f, ds = 0.0f;
        if (qi >= j && qi <= hi) {
            float s = 0.0f, dp = 0.0f;
            for (int d = 0; d < D; d++) {
                s += Qs[lane][d] * Kw[warp][d];
                dp += Gs[lane][d] * Vw[warp][d];
            }
            pr = expf(s - Ls[lane]);
            ds = pr * (dp - Ds[lane]);
        }
        for (int r = 0; r < ATT_BK; r++) {
            float pb = __shfl_sync(0xffffffffu, pr, r);
            float db = __shfl_sync(0xffffffffu, ds, r);
            for (int i = 0; i < ATT_DPL; i++) {
                int d = lane + 32 * i;
                if (d < D) {
                    av[i] += pb * Gs[r][d];
                    ak[i] += db * Qs[r][d];
                }
            }
        }
    }
    if (!active) return;
    for (int i = 0; i < ATT_DPL; i++) {
        int d = lane + 32 * i;
        if (d < D) {
            long long idx = ((long long)j * H + h) * D + d;
            acc(dk, dkdt, idx, ak[i] * scale);
            acc(dv, dvdt, idx, av[i]);
        }
    }
}
