// Causal sliding-window attention over packed documents (flash-attention style, F32 online softmax).
// Layout: q, k, v, out [T, H, D] (D ≤ 128), lse and delta [H, T], cu [S] I32 document starts padded
// with T. Query p of document [s, e) sees keys lo(p) = max(s, p − window) .. p; lo is
// non-decreasing in p, so a block of consecutive queries needs one contiguous key range.
// Two sets of kernels: the scalar F32 ones here (any F32/BF16 mix; the F32 precision) and, in the
// second half, the tensor-core ones (_mma, BF16 q/k/v: the mixed precision). CudaOps picks.
// Scalar launch: block = ATT_WARPS warps (one query or key per warp), grid = (ceil(T / ATT_WARPS), H).
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

// In 64 bits: j + window overflows an int for windows near INT_MAX (any window ≥ 0 is valid).
__device__ __forceinline__ int query_hi(const int* cu, int S, int j, int window, int T) {
    return (int)min((long long)(min(doc_end(cu, S, j), T) - 1), (long long)j + window);
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

// ====================================================================================================
// Tensor-core attention (flash-attention 2 on mma.sync.m16n8k16: BF16 operands, F32 accumulation).
// CudaOps runs these when q, k and v are BF16 with D % 8 == 0 and 16-byte aligned rows (the mixed
// precision path); out, dout, dq, dk, dv keep their dtype codes (F32 or BF16). Design, tile sizes and
// cost estimate: docs/cuda.md, "Tensor-core attention".
//
// Tiles live in shared memory as BF16 rows of AT_LD = 128 elements (256 bytes, 16 chunks of 16 bytes),
// the chunk index XOR-swizzled with (row & 7) so that the 8 row addresses of every ldmatrix (and the
// 16-byte stores filling a tile) hit 8 different bank groups. Columns D..DP (DP = D rounded up to 16,
// the mma's k step) are zero, so a head dim that is a multiple of 8 but not of 16 needs no special case.
// Launch: block AT_THREADS = 4 warps; forward and dq: grid (ceil(T / AT_BM), H), warp w owns query rows
// 16w..16w+15 of the block; dkv: grid (ceil(T / AT_BN), H), warp w owns keys 16w..16w+15.
// The key range of a query tile [q0, q1) is [lo(q0), q1 − 1] (lo is non-decreasing: see key_lo), the
// query range of a key tile [j0, j1) is [j0, hi(j1 − 1)]; each warp narrows it to its own 16 rows and
// skips every 16-wide sub-block outside (diagonal, document start, window), so fully masked work is
// never issued; the element mask is applied only in tiles that straddle a boundary.
#include "tensor_core.cuh"

#define AT_THREADS 128
#define AT_BM 64   // queries per block (forward, dq)
#define AT_BN 64   // keys per shared tile (forward, dq); keys per block (dkv)
#define AT_BQ 32   // queries per shared tile (dkv)
#define AT_LD 128  // shared row stride in BF16 elements (= ATT_MAXD)
#define AT_LOG2E 1.4426950408889634f
#define AT_LN2 0.6931471805599453f

// Address of 16-byte chunk c (columns 8c..8c+7) of row r of a swizzled tile.
__device__ __forceinline__ uint4* at_chunk(uint4* tile, int r, int c) { return tile + r * (AT_LD / 8) + (c ^ (r & 7)); }

__device__ __forceinline__ uint32_t at_pack(float lo, float hi) {
    __nv_bfloat16 a = __float2bfloat16_rn(lo), b = __float2bfloat16_rn(hi);
    uint16_t ua, ub;
    memcpy(&ua, &a, 2);
    memcpy(&ub, &b, 2);
    return (uint32_t)ua | ((uint32_t)ub << 16);
}

// Rows r0 .. r0 + nrows − 1 of head h of a [T, H, D] tensor into a swizzled BF16 tile, 16 bytes per
// thread and step (8 BF16, or two float4 of an F32 tensor rounded to BF16); rows ≥ rend and columns
// ≥ D up to DP are zero. Needs D % 8 == 0 and a 16-byte aligned base (CudaOps checks both).
__device__ __forceinline__ void at_load(uint4* tile, const void* src, int dt, int r0, int rend, int nrows, int h,
                                        int H, int D) {
    int nc = ((D + 15) & ~15) >> 3;
    for (int idx = threadIdx.x; idx < nrows * 16; idx += AT_THREADS) {
        int r = idx >> 4, c = idx & 15, row = r0 + r;
        if (c >= nc) continue;
        uint4 val = {0u, 0u, 0u, 0u};
        if (row < rend && c * 8 < D) {
            long long e = ((long long)row * H + h) * D + c * 8;
            if (dt == DT_BF16) {
                val = *(const uint4*)((const __nv_bfloat16*)src + e);
            } else {
                float4 a = *(const float4*)((const float*)src + e), b = *(const float4*)((const float*)src + e + 4);
                val.x = at_pack(a.x, a.y);
                val.y = at_pack(a.z, a.w);
                val.z = at_pack(b.x, b.y);
                val.w = at_pack(b.z, b.w);
            }
        }
        *at_chunk(tile, r, c) = val;
    }
}

// A fragment of the 16×16 block at (r0, c0) of a tile (rows = m, columns = k).
__device__ __forceinline__ void at_frag_a(uint32_t a[4], uint4* tile, int r0, int c0) {
    int l = threadIdx.x & 31, i = l >> 3;
    ldmatrix_x4(a, at_chunk(tile, r0 + (l & 7) + ((i & 1) << 3), (c0 >> 3) + (i >> 1)));
}

// B fragments of two n-chunks from a tile whose rows are n and columns k (B = tileᵀ): rows r0..r0+7
// give b[0..1], rows r0+8..r0+15 give b[2..3]; k = columns c0..c0+15.
__device__ __forceinline__ void at_frag_b(uint32_t b[4], uint4* tile, int r0, int c0) {
    int l = threadIdx.x & 31, i = l >> 3;
    ldmatrix_x4(b, at_chunk(tile, r0 + (l & 7) + ((i >> 1) << 3), (c0 >> 3) + (i & 1)));
}

// B fragments of two n-chunks from a tile whose rows are k and columns n (B = tile): k = rows
// r0..r0+15, columns c0..c0+7 give b[0..1], c0+8..c0+15 give b[2..3].
__device__ __forceinline__ void at_frag_bt(uint32_t b[4], uint4* tile, int r0, int c0) {
    int l = threadIdx.x & 31, i = l >> 3;
    ldmatrix_x4_trans(b, at_chunk(tile, r0 + (l & 7) + ((i & 1) << 3), (c0 >> 3) + (i >> 1)));
}

__device__ __forceinline__ void at_mma(float d[4], const uint32_t a[4], const uint32_t b0, const uint32_t b1) {
    uint32_t b[2] = {b0, b1};
    mma_m16n8k16_bf16(d, a, b, d);
}

// C fragments of two adjacent 8-column chunks (16 × 16, F32) as the A fragment (k = those 16 columns).
__device__ __forceinline__ void at_c_to_a(uint32_t a[4], const float c0[4], const float c1[4]) {
    a[0] = at_pack(c0[0], c0[1]);
    a[1] = at_pack(c0[2], c0[3]);
    a[2] = at_pack(c1[0], c1[1]);
    a[3] = at_pack(c1[2], c1[3]);
}

// p[i], p[i+1] (op) (v0, v1): i even, D even, so a BF16 pair is one aligned 4-byte access.
__device__ __forceinline__ void at_store2(void* p, int dt, long long i, float v0, float v1, bool accumulate) {
    if (dt == DT_BF16) {
        __nv_bfloat162* q = (__nv_bfloat162*)((__nv_bfloat16*)p + i);
        if (accumulate) {
            __nv_bfloat162 o = *q;
            v0 += __bfloat162float(o.x);
            v1 += __bfloat162float(o.y);
        }
        __nv_bfloat162 w;
        w.x = __float2bfloat16_rn(v0);
        w.y = __float2bfloat16_rn(v1);
        *q = w;
    } else {
        float* q = (float*)p + i;
        if (accumulate) { v0 += q[0]; v1 += q[1]; }
        q[0] = v0;
        q[1] = v1;
    }
}

// Forward: per block AT_BM queries of head h; per key tile S = Q·Kᵀ (mma), mask, online softmax in
// F32 (base 2), O += P·V (P rounded to BF16 as the mma operand); lse in natural log for the backward.
extern "C" __global__ void attention_mma(void* out, int odt, float* lse, const void* q, int qdt, const void* k, int kdt,
                                         const void* v, int vdt, const int* cu, int S, int T, int H, int D, int window,
                                         float scale) {
    __shared__ uint4 Ks[AT_BN * AT_LD / 8];
    __shared__ uint4 Vs[AT_BN * AT_LD / 8];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, h = blockIdx.y;
    int q0 = blockIdx.x * AT_BM, qend = min(q0 + AT_BM, T);
    int nk = (D + 15) >> 4;   // 16-wide steps over D
    int wfirst = q0 + warp * 16, wlast = min(wfirst + 15, T - 1);
    bool wactive = wfirst < T;
    int ra = wfirst + g, rb = ra + 8;   // this lane's two rows (C fragment rows g and g + 8)
    int loa = ra < T ? key_lo(cu, S, ra, window) : T, lob = rb < T ? key_lo(cu, S, rb, window) : T;
    int wlo = wactive ? key_lo(cu, S, wfirst, window) : 0, wlo_last = wactive ? key_lo(cu, S, wlast, window) : 0;
    float sl2 = scale * AT_LOG2E;

    at_load(Ks, q, qdt, q0, T, AT_BM, h, H, D);   // Q goes through the K buffer into registers
    __syncthreads();
    uint32_t qa[AT_LD / 16][4];
#pragma unroll
    for (int kk = 0; kk < AT_LD / 16; kk++)
        if (kk < nk) at_frag_a(qa[kk], Ks, warp * 16, kk * 16);
    float o[AT_LD / 8][4];
#pragma unroll
    for (int n = 0; n < AT_LD / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    float ma = -INFINITY, mb = -INFINITY, la = 0.0f, lb = 0.0f;

    for (int kt = key_lo(cu, S, q0, window); kt < qend; kt += AT_BN) {
        __syncthreads();   // the previous tile (and the Q staging) is consumed
        at_load(Ks, k, kdt, kt, qend, AT_BN, h, H, D);
        at_load(Vs, v, vdt, kt, qend, AT_BN, h, H, D);
        __syncthreads();
        if (!wactive || kt > wlast || kt + AT_BN - 1 < wlo) continue;   // warp-uniform
        bool full = kt >= wlo_last && kt + AT_BN - 1 <= wfirst;         // no element of the tile masked
        float s[AT_BN / 8][4];
        bool live[AT_BN / 16];
#pragma unroll
        for (int jj = 0; jj < AT_BN / 16; jj++) {
            int kb = kt + jj * 16;
            live[jj] = kb <= wlast && kb + 15 >= wlo;
            s[2 * jj][0] = s[2 * jj][1] = s[2 * jj][2] = s[2 * jj][3] = 0.0f;
            s[2 * jj + 1][0] = s[2 * jj + 1][1] = s[2 * jj + 1][2] = s[2 * jj + 1][3] = 0.0f;
            if (!live[jj]) continue;
#pragma unroll
            for (int kk = 0; kk < AT_LD / 16; kk++) {
                if (kk >= nk) break;
                uint32_t b[4];
                at_frag_b(b, Ks, jj * 16, kk * 16);
                at_mma(s[2 * jj], qa[kk], b[0], b[1]);
                at_mma(s[2 * jj + 1], qa[kk], b[2], b[3]);
            }
        }
        float mxa = -INFINITY, mxb = -INFINITY;
#pragma unroll
        for (int j = 0; j < AT_BN / 8; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int c = kt + j * 8 + 2 * t + (e & 1);
                bool ok = live[j >> 1] && (full || (e < 2 ? (c >= loa && c <= ra) : (c >= lob && c <= rb)));
                float x = ok ? s[j][e] * sl2 : -INFINITY;
                s[j][e] = x;
                if (e < 2) mxa = fmaxf(mxa, x); else mxb = fmaxf(mxb, x);
            }
        mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, 1));
        mxa = fmaxf(mxa, __shfl_xor_sync(0xffffffffu, mxa, 2));
        mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, 1));
        mxb = fmaxf(mxb, __shfl_xor_sync(0xffffffffu, mxb, 2));
        float mna = fmaxf(ma, mxa), mnb = fmaxf(mb, mxb);
        // A row with no key yet keeps m = −∞; subtract 0 then so that exp2 gives 0, not NaN.
        float ua = mna == -INFINITY ? 0.0f : mna, ub = mnb == -INFINITY ? 0.0f : mnb;
        float ca = exp2f(ma - ua), cb = exp2f(mb - ub);
        ma = mna;
        mb = mnb;
        la *= ca;
        lb *= cb;
#pragma unroll
        for (int n = 0; n < AT_LD / 8; n++) { o[n][0] *= ca; o[n][1] *= ca; o[n][2] *= cb; o[n][3] *= cb; }
#pragma unroll
        for (int j = 0; j < AT_BN / 8; j++) {
            s[j][0] = exp2f(s[j][0] - ua);
            s[j][1] = exp2f(s[j][1] - ua);
            s[j][2] = exp2f(s[j][2] - ub);
            s[j][3] = exp2f(s[j][3] - ub);
            la += s[j][0] + s[j][1];
            lb += s[j][2] + s[j][3];
        }
#pragma unroll
        for (int jj = 0; jj < AT_BN / 16; jj++) {
            if (!live[jj]) continue;
            uint32_t pa[4];
            at_c_to_a(pa, s[2 * jj], s[2 * jj + 1]);
#pragma unroll
            for (int np = 0; np < AT_LD / 16; np++) {
                if (np >= nk) break;
                uint32_t b[4];
                at_frag_bt(b, Vs, jj * 16, np * 16);
                at_mma(o[2 * np], pa, b[0], b[1]);
                at_mma(o[2 * np + 1], pa, b[2], b[3]);
            }
        }
    }
    if (!wactive) return;
    la += __shfl_xor_sync(0xffffffffu, la, 1);
    la += __shfl_xor_sync(0xffffffffu, la, 2);
    lb += __shfl_xor_sync(0xffffffffu, lb, 1);
    lb += __shfl_xor_sync(0xffffffffu, lb, 2);
    float ia = 1.0f / la, ib = 1.0f / lb;
#pragma unroll
    for (int n = 0; n < AT_LD / 8; n++) {
        int d = n * 8 + 2 * t;
        if (d >= D) break;
        if (ra < T) at_store2(out, odt, ((long long)ra * H + h) * D + d, o[n][0] * ia, o[n][1] * ia, false);
        if (rb < T) at_store2(out, odt, ((long long)rb * H + h) * D + d, o[n][2] * ib, o[n][3] * ib, false);
    }
    if (t == 0) {
        if (ra < T) lse[(long long)h * T + ra] = (ma + log2f(la)) * AT_LN2;
        if (rb < T) lse[(long long)h * T + rb] = (mb + log2f(lb)) * AT_LN2;
    }
}

// dq += scale·dS·K with dS = P∘(dO·Vᵀ − delta), P = exp(scale·Q·Kᵀ − lse): query-centric like the
// forward (Q and dO fragments in registers, K and V tiles shared), 16 keys at a time.
extern "C" __global__ void attention_backward_dq_mma(void* dq, int dqdt, const void* dout, int ddt, const void* q,
                                                     int qdt, const void* k, int kdt, const void* v, int vdt,
                                                     const float* lse, const float* delta, const int* cu, int S,
                                                     int T, int H, int D, int window, float scale) {
    __shared__ uint4 Ks[AT_BN * AT_LD / 8];
    __shared__ uint4 Vs[AT_BN * AT_LD / 8];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, h = blockIdx.y;
    int q0 = blockIdx.x * AT_BM, qend = min(q0 + AT_BM, T);
    int nk = (D + 15) >> 4;
    int wfirst = q0 + warp * 16, wlast = min(wfirst + 15, T - 1);
    bool wactive = wfirst < T;
    int ra = wfirst + g, rb = ra + 8;
    int loa = ra < T ? key_lo(cu, S, ra, window) : T, lob = rb < T ? key_lo(cu, S, rb, window) : T;
    int wlo = wactive ? key_lo(cu, S, wfirst, window) : 0, wlo_last = wactive ? key_lo(cu, S, wlast, window) : 0;
    float sl2 = scale * AT_LOG2E;
    float lsa = ra < T ? lse[(long long)h * T + ra] * AT_LOG2E : 0.0f, lsb = rb < T ? lse[(long long)h * T + rb] * AT_LOG2E : 0.0f;
    float dla = ra < T ? delta[(long long)h * T + ra] : 0.0f, dlb = rb < T ? delta[(long long)h * T + rb] : 0.0f;

    at_load(Ks, q, qdt, q0, T, AT_BM, h, H, D);
    at_load(Vs, dout, ddt, q0, T, AT_BM, h, H, D);
    __syncthreads();
    uint32_t qa[AT_LD / 16][4], ga[AT_LD / 16][4];
#pragma unroll
    for (int kk = 0; kk < AT_LD / 16; kk++)
        if (kk < nk) {
            at_frag_a(qa[kk], Ks, warp * 16, kk * 16);
            at_frag_a(ga[kk], Vs, warp * 16, kk * 16);
        }
    float dqa[AT_LD / 8][4];
#pragma unroll
    for (int n = 0; n < AT_LD / 8; n++) dqa[n][0] = dqa[n][1] = dqa[n][2] = dqa[n][3] = 0.0f;

    for (int kt = key_lo(cu, S, q0, window); kt < qend; kt += AT_BN) {
        __syncthreads();
        at_load(Ks, k, kdt, kt, qend, AT_BN, h, H, D);
        at_load(Vs, v, vdt, kt, qend, AT_BN, h, H, D);
        __syncthreads();
        if (!wactive || kt > wlast || kt + AT_BN - 1 < wlo) continue;
        bool full = kt >= wlo_last && kt + AT_BN - 1 <= wfirst;
#pragma unroll
        for (int jj = 0; jj < AT_BN / 16; jj++) {
            int kb = kt + jj * 16;
            if (kb > wlast || kb + 15 < wlo) continue;
            float s[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}}, dp[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
#pragma unroll
            for (int kk = 0; kk < AT_LD / 16; kk++) {
                if (kk >= nk) break;
                uint32_t b[4];
                at_frag_b(b, Ks, jj * 16, kk * 16);
                at_mma(s[0], qa[kk], b[0], b[1]);
                at_mma(s[1], qa[kk], b[2], b[3]);
                at_frag_b(b, Vs, jj * 16, kk * 16);
                at_mma(dp[0], ga[kk], b[0], b[1]);
                at_mma(dp[1], ga[kk], b[2], b[3]);
            }
#pragma unroll
            for (int j = 0; j < 2; j++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int c = kb + j * 8 + 2 * t + (e & 1);
                    bool ok = full || (e < 2 ? (c >= loa && c <= ra) : (c >= lob && c <= rb));
                    float p = ok ? exp2f(s[j][e] * sl2 - (e < 2 ? lsa : lsb)) : 0.0f;
                    s[j][e] = p * (dp[j][e] - (e < 2 ? dla : dlb));
                }
            uint32_t da[4];
            at_c_to_a(da, s[0], s[1]);
#pragma unroll
            for (int np = 0; np < AT_LD / 16; np++) {
                if (np >= nk) break;
                uint32_t b[4];
                at_frag_bt(b, Ks, jj * 16, np * 16);
                at_mma(dqa[2 * np], da, b[0], b[1]);
                at_mma(dqa[2 * np + 1], da, b[2], b[3]);
            }
        }
    }
    if (!wactive) return;
#pragma unroll
    for (int n = 0; n < AT_LD / 8; n++) {
        int d = n * 8 + 2 * t;
        if (d >= D) break;
        if (ra < T) at_store2(dq, dqdt, ((long long)ra * H + h) * D + d, dqa[n][0] * scale, dqa[n][1] * scale, true);
        if (rb < T) at_store2(dq, dqdt, ((long long)rb * H + h) * D + d, dqa[n][2] * scale, dqa[n][3] * scale, true);
    }
}

// dk += scale·dSᵀ·Q and dv += Pᵀ·dO: key-centric, block = AT_BN keys (K and V tiles stay in shared
// memory), queries j0 .. hi(j1 − 1) in tiles of AT_BQ, Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ 16 queries at a time.
// lse and delta of a lane's query columns come straight from global memory (4 floats per sub-block).
extern "C" __global__ void attention_backward_dkv_mma(void* dk, int dkdt, void* dv, int dvdt, const void* dout,
                                                      int ddt, const void* q, int qdt, const void* k, int kdt,
                                                      const void* v, int vdt, const float* lse, const float* delta,
                                                      const int* cu, int S, int T, int H, int D, int window,
                                                      float scale) {
    __shared__ uint4 Ks[AT_BN * AT_LD / 8];
    __shared__ uint4 Vs[AT_BN * AT_LD / 8];
    __shared__ uint4 Qs[AT_BQ * AT_LD / 8];
    __shared__ uint4 Gs[AT_BQ * AT_LD / 8];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, h = blockIdx.y;
    int j0 = blockIdx.x * AT_BN, jend = min(j0 + AT_BN, T);
    int nk = (D + 15) >> 4;
    int wfirst = j0 + warp * 16, wlast = min(wfirst + 15, T - 1);
    bool wactive = wfirst < T;
    int ja = wfirst + g, jb = ja + 8;   // this lane's two keys (C fragment rows)
    int hia = ja < T ? query_hi(cu, S, ja, window, T) : -1, hib = jb < T ? query_hi(cu, S, jb, window, T) : -1;
    int whi = wactive ? query_hi(cu, S, wlast, window, T) : 0, whi_first = wactive ? query_hi(cu, S, wfirst, window, T) : 0;
    int qhi = query_hi(cu, S, jend - 1, window, T);
    float sl2 = scale * AT_LOG2E;

    at_load(Ks, k, kdt, j0, T, AT_BN, h, H, D);
    at_load(Vs, v, vdt, j0, T, AT_BN, h, H, D);
    float ak[AT_LD / 8][4], av[AT_LD / 8][4];
#pragma unroll
    for (int n = 0; n < AT_LD / 8; n++)
        for (int e = 0; e < 4; e++) ak[n][e] = av[n][e] = 0.0f;

    for (int qt = j0; qt <= qhi; qt += AT_BQ) {
        __syncthreads();
        at_load(Qs, q, qdt, qt, qhi + 1, AT_BQ, h, H, D);
        at_load(Gs, dout, ddt, qt, qhi + 1, AT_BQ, h, H, D);
        __syncthreads();
        if (!wactive || qt > whi || qt + AT_BQ - 1 < wfirst) continue;
        bool full = qt >= wlast && qt + AT_BQ - 1 <= whi_first;
#pragma unroll
        for (int ii = 0; ii < AT_BQ / 16; ii++) {
            int qb = qt + ii * 16;
            if (qb > whi || qb + 15 < wfirst) continue;
            float s[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}}, dp[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
#pragma unroll
            for (int kk = 0; kk < AT_LD / 16; kk++) {
                if (kk >= nk) break;
                uint32_t a[4], b[4];
                at_frag_a(a, Ks, warp * 16, kk * 16);
                at_frag_b(b, Qs, ii * 16, kk * 16);
                at_mma(s[0], a, b[0], b[1]);
                at_mma(s[1], a, b[2], b[3]);
                at_frag_a(a, Vs, warp * 16, kk * 16);
                at_frag_b(b, Gs, ii * 16, kk * 16);
                at_mma(dp[0], a, b[0], b[1]);
                at_mma(dp[1], a, b[2], b[3]);
            }
#pragma unroll
            for (int j = 0; j < 2; j++)
#pragma unroll
                for (int e1 = 0; e1 < 2; e1++) {
                    int i = qb + j * 8 + 2 * t + e1;   // this element's query (column)
                    float ls = i < T ? lse[(long long)h * T + i] * AT_LOG2E : 0.0f;
                    float dl = i < T ? delta[(long long)h * T + i] : 0.0f;
                    bool oka = full || (i >= ja && i <= hia), okb = full || (i >= jb && i <= hib);
                    float pa = oka ? exp2f(s[j][e1] * sl2 - ls) : 0.0f, pb = okb ? exp2f(s[j][2 + e1] * sl2 - ls) : 0.0f;
                    s[j][e1] = pa;
                    s[j][2 + e1] = pb;
                    dp[j][e1] = pa * (dp[j][e1] - dl);
                    dp[j][2 + e1] = pb * (dp[j][2 + e1] - dl);
                }
            uint32_t pfrag[4], dfrag[4];
            at_c_to_a(pfrag, s[0], s[1]);
            at_c_to_a(dfrag, dp[0], dp[1]);
#pragma unroll
            for (int np = 0; np < AT_LD / 16; np++) {
                if (np >= nk) break;
                uint32_t b[4];
                at_frag_bt(b, Gs, ii * 16, np * 16);
                at_mma(av[2 * np], pfrag, b[0], b[1]);
                at_mma(av[2 * np + 1], pfrag, b[2], b[3]);
                at_frag_bt(b, Qs, ii * 16, np * 16);
                at_mma(ak[2 * np], dfrag, b[0], b[1]);
                at_mma(ak[2 * np + 1], dfrag, b[2], b[3]);
            }
        }
    }
    if (!wactive) return;
#pragma unroll
    for (int n = 0; n < AT_LD / 8; n++) {
        int d = n * 8 + 2 * t;
        if (d >= D) break;
        if (ja < T) {
            long long i = ((long long)ja * H + h) * D + d;
            at_store2(dk, dkdt, i, ak[n][0] * scale, ak[n][1] * scale, true);
            at_store2(dv, dvdt, i, av[n][0], av[n][1], true);
        }
        if (jb < T) {
            long long i = ((long long)jb * H + h) * D + d;
            at_store2(dk, dkdt, i, ak[n][2] * scale, ak[n][3] * scale, true);
            at_store2(dv, dvdt, i, av[n][2], av[n][3], true);
        }
    }
}
