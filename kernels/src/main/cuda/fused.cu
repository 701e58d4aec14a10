// Fused ops: each kernel does what a fixed sequence of unfused kernels does, in one launch and one
// pass over memory, and bit for bit as that sequence does: every intermediate the unfused
// sequence stores is rounded to the dtype it would be stored in, and every reduction visits the
// elements in the unfused kernel's order (lane_columns, grid_elements below: the vector order of
// common.cuh's for_each_in where the unfused kernel's pointers are 16-byte aligned, then warp_sum
// or block_sum), so the fused and unfused model paths give the same bits.
#include "common.cuh"

// v as a tensor of dtype dt stores it (what ld returns after st).
__device__ __forceinline__ float fused_round(int dt, float v) {
    return dt == DT_BF16 ? __bfloat162float(__float2bfloat16_rn(v)) : v;
}

// The columns of a C-wide row in the order rms_norm's (and rms_norm_backward's) lane visits them
// (norms.cu: common.cuh's for_each_in with first = lane, stride 32): where vec (the unfused kernel's
// row pointers 16-byte aligned) 8-column vectors lane, lane + 32, …, each column of a vector in
// turn, then the tail columns; else the columns lane, lane + 32, …
template <typename F> __device__ __forceinline__ void lane_columns(int C, bool vec, int lane, F f) {
    int nv = vec ? C / VEC : 0;
    for (int k = lane; k < nv; k += 32)
        for (int e = 0; e < VEC; e++) f(k * VEC + e);
    for (int c = nv * VEC + lane; c < C; c += 32) f(c);
}

// The elements [0, n) in the order this thread visits them in sum_partial (elementwise.cu: for_each
// over the grid, vectors where vec), f(i) for each.
template <typename F> __device__ __forceinline__ void grid_elements(long long n, bool vec, F f) {
    long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x, stride = (long long)gridDim.x * blockDim.x;
    long long nv = vec ? n / VEC : 0;
    for (long long k = tid; k < nv; k += stride)
        for (int e = 0; e < VEC; e++) f(k * VEC + e);
    for (long long i = nv * VEC + tid; i < n; i += stride) f(i);
}

// The address of element i of a tensor of dtype dt at p (for the alignment the unfused kernels test).
__device__ __forceinline__ const void* elem(const void* p, int dt, long long i) {
    return (const char*)p + i * (dt == DT_BF16 ? 2 : 4);
}

// 1/rms of the C values at x + base, as rms_norm computes it into out + base (the alignment of both
// rows picks its order; lane_columns, warp_sum).
__device__ __forceinline__ float fused_rrms(const void* x, int xdt, const void* out, int odt, long long base, int C, float eps,
                                            int lane) {
    float s = 0.0f;
    lane_columns(C, aligned16(elem(x, xdt, base), elem(out, odt, base)), lane, [&](int c) {
        float v = ld(x, xdt, base + c);
        s += v * v;
    });
    s = warp_sum(s);
    return rsqrtf(s / (float)C + eps);
}

// mix's fa·x + fb·y with mix's roundings. nvcc contracts mix's `v = fa·x; v += fb·y` into
// fma(fa, x, fb·y) (elementwise.cu as of this kernel; FusedGpuTest checks it), but in this loop it
// would choose fma(fb, y, fa·x), another rounding: so the device code spells mix's out. The
// emulation (g++ without FMA) rounds each product and the sum, as its mix does.
__device__ __forceinline__ float fused_mix(float fa, float xv, bool two, float fb, float yv) {
#ifdef __CUDA_ARCH__
    return two ? __fmaf_rn(fa, xv, __fmul_rn(fb, yv)) : fa * xv;
#else
    float v = fa * xv;
    if (two) v += fb * yv;
    return v;
#endif
}

// mix then rms_norm of the stored mix: out = ca·a·x + cb·b·y (a, b [1] or null = 1; y null drops
// the term), norm[r] = out[r]·rrms[r], rrms[r] = 1/sqrt(mean(out[r]²) + eps), and with scaled
// given scaled = s·norm (s [1] or null = 1) from the stored norm, as mix(scaled, norm, s, 1) would.
// out may alias x or y (each lane reads its elements before writing them); norm and scaled alias
// none of them.
// Block = 256 threads = 8 rows; grid = ceil(R / 8).
extern "C" __global__ void mix_rms_norm(void* out, int odt, void* norm, int ndt, float* rrms, void* scaled, int scdt,
                                        const void* s, int sdt, const void* x, int xdt,
                                        const void* a, int adt, float ca, const void* y, int ydt, const void* b, int bdt,
                                        float cb, int R, int C, float eps) {
    int lane = threadIdx.x & 31;
    long long r = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= R) return;
    float fa = ca * scalar_or_one(a, adt);
    float fb = cb * scalar_or_one(b, bdt);
    float fs = 1.0f * scalar_or_one(s, sdt);
    long long base = r * C;
    float ss = 0.0f;
    // rms_norm(norm, rrms, out)'s order: its rows are out's and norm's
    lane_columns(C, aligned16(elem(out, odt, base), elem(norm, ndt, base)), lane, [&](int c) {
        float v = fused_mix(fa, ld(x, xdt, base + c), y != nullptr, fb, y != nullptr ? ld(y, ydt, base + c) : 0.0f);
        st(out, odt, base + c, v);
        float m = fused_round(odt, v);   // the stored value, which the unfused rms_norm would load
        ss += m * m;
    });
    ss = warp_sum(ss);
    float rr = rsqrtf(ss / (float)C + eps);
    for (int c = lane; c < C; c += 32) {
        float nv = ld(out, odt, base + c) * rr;
        st(norm, ndt, base + c, nv);
        if (scaled != nullptr) st(scaled, scdt, base + c, fused_mix(fs, fused_round(ndt, nv), false, 0.0f, 0.0f));
    }
    if (lane == 0) rrms[r] = rr;
}

// rms_norm of each [D] head row of x, stored in out's dtype, then rotary of that (rotary.cu's
// arithmetic: θ = t·freqs[j] in double), then with shift = 1 key_shift: pairs j ≥ D/4 (dims
// [D/4, D/2) and [3D/4, D)) of row t ≥ 1 take row t−1's rotated pair, recomputed here from x
// (the same reduction gives the same rrms bits as row t−1's own warp). rrms[t·H + h] is the
// unshifted row's. out must not alias x (neighbouring rows read x).
// One warp per (t, h) row; block = 256 threads = 8 rows; grid = ceil(T·H / 8).
extern "C" __global__ void rms_norm_rotary(void* out, int odt, float* rrms, const void* x, int xdt, const void* freqs,
                                           int fdt, int T, int H, int D, float eps, int shift) {
    int lane = threadIdx.x & 31;
    long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= (long long)T * H) return;
    long long t = row / H;
    long long base = row * D, HD = (long long)H * D;
    float rr = fused_rrms(x, xdt, out, odt, base, D, eps, lane);
    bool fromPrev = shift && t >= 1;
    float rrPrev = fromPrev ? fused_rrms(x, xdt, out, odt, base - HD, D, eps, lane) : rr;
    if (lane == 0) rrms[row] = rr;
    int half = D / 2;
    for (int j = lane; j < half; j += 32) {
        bool prev = fromPrev && j >= D / 4;
        long long src = prev ? base - HD : base;
        float rs = prev ? rrPrev : rr;
        double sd, cd;
        sincos((double)(prev ? t - 1 : t) * (double)ld(freqs, fdt, j), &sd, &cd);
        float sn = (float)sd, cs = (float)cd;
        float u = fused_round(odt, ld(x, xdt, src + j) * rs), w = fused_round(odt, ld(x, xdt, src + half + j) * rs);
        float p = u * cs + w * sn, q = -u * sn + w * cs;
        st(out, odt, base + j, p);
        st(out, odt, base + half + j, q);
    }
}

// ∂/∂(rotated key or query) at element i = row·D + d of the [T·H, D] rows, as key_shift_backward
// leaves it in a zeroed buffer of dtype sdt (shift = 1), or dOut itself (shift = 0).
__device__ __forceinline__ float fused_unshifted(const void* dout, int ddt, int sdt, long long i, long long t, int d, int T, int D,
                                                 long long HD, int shift) {
    if (!shift) return ld(dout, ddt, i);
    float g;
    if ((d >= D / 4 && d < D / 2) || d >= 3 * D / 4) {
        g = (t + 1 < T) ? ld(dout, ddt, i + HD) : 0.0f;
        if (t == 0) g += ld(dout, ddt, i);
    } else {
        g = ld(dout, ddt, i);
    }
    return fused_round(sdt, 0.0f + g);
}

// ∂/∂(normalised row) at column c of the row at base (position t), as rotary's backward
// (sign −1, accumulate) leaves it in a zeroed buffer of dtype sdt: the pair (j, j + D/2) of c,
// rotated by −θ, θ = t·freqs[j] in double.
__device__ __forceinline__ float fused_unrotated(const void* dout, int ddt, int sdt, const void* freqs, int fdt, long long base,
                                                 long long t, int c, int T, int D, long long HD, int shift) {
    int half = D / 2;
    int j = c < half ? c : c - half;
    float sign = -1.0f;
#ifdef __CUDA_ARCH__
    // rotary's sign is a kernel parameter, a value nvcc cannot see; hide this constant from it too, so
    // the rotation's multiply-adds contract into the same FMAs as rotary's (a folded −1 lets nvcc fuse
    // other products, which changes the rounding). The emulation (g++, no FMA) needs no such care.
    asm("" : "+f"(sign));
#endif
    double sd, cd;
    sincos((double)t * (double)ld(freqs, fdt, j), &sd, &cd);
    float sn = (float)sd * sign, cs = (float)cd;
    float u = fused_unshifted(dout, ddt, sdt, base + j, t, j, T, D, HD, shift);
    float w = fused_unshifted(dout, ddt, sdt, base + half + j, t, half + j, T, D, HD, shift);
    float a = u * cs + w * sn, b = -u * sn + w * cs;
    return fused_round(sdt, 0.0f + (c < half ? a : b));
}

// Backward of rms_norm_rotary: dx += rms_norm_backward(rotary backward(key_shift_backward(dOut)))
// per [D] head row, the two intermediates rounded to dx's dtype as the unfused kernels store them
// (each lane recomputes the rotated pair of each of its columns: the same bits as the rotary
// kernel's, without a trip through memory); rms_norm_backward's reduction order. dx must not
// alias dOut (neighbouring rows read dOut). One warp per (t, h) row; block = 256 threads = 8 rows.
extern "C" __global__ void rms_norm_rotary_backward(void* dx, int dxdt, const void* dout, int ddt, const void* x, int xdt,
                                                    const float* rrms, const void* freqs, int fdt, int T, int H, int D,
                                                    int shift) {
    int lane = threadIdx.x & 31;
    long long row = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= (long long)T * H) return;
    long long t = row / H;
    long long base = row * D, HD = (long long)H * D;
    float rr = rrms[row];
    float s = 0.0f;
    // rms_norm_backward(dx, unrotated, x)'s order: its rows are dx's, the unrotated buffer's (the
    // unfused path's own buffer of dx's dtype, aligned as dx's rows) and x's
    lane_columns(D, aligned16(elem(dx, dxdt, base), elem(x, xdt, base)), lane, [&](int c) {
        s += fused_unrotated(dout, ddt, dxdt, freqs, fdt, base, t, c, T, D, HD, shift) * ld(x, xdt, base + c) * rr;
    });
    float m = warp_sum(s) / (float)D;
    for (int c = lane; c < D; c += 32) {
        float y = ld(x, xdt, base + c) * rr;
        acc(dx, dxdt, base + c, rr * (fused_unrotated(dout, ddt, dxdt, freqs, fdt, base, t, c, T, D, HD, shift) - y * m));
    }
}

// mix_backward in one pass over dOut (elementwise.cu computes it as up to two mix_backward_dx and
// two sum_partial + sum_finish launches): dx += fa·dOut, dy += fb·dOut (fa = ca·a, fb = cb·b;
// either null: not wanted), and with partials given the per-block sums of dOut·x (partials[block])
// and dOut·y (partials[parts + block]) for sum_finish to add up into da and db (x or y null: that
// sum not wanted). The sums visit the elements in sum_partial's order (grid of `parts` blocks,
// grid_elements, block_sum), so da and db get its bits. Every lane reads its element of dOut, x and y
// before writing dx or dy.
extern "C" __global__ void mix_backward_partial(float* partials, void* dx, int dxdt, void* dy, int dydt, const void* dout,
                                                int ddt, const void* x, int xdt, const void* a, int adt, float ca,
                                                const void* y, int ydt, const void* b, int bdt, float cb, long long n,
                                                int parts) {
    float fa = ca * scalar_or_one(a, adt);
    float fb = cb * scalar_or_one(b, bdt);
    float sa = 0.0f, sb = 0.0f;
    // sum_partial's order for each sum: vectors where its two pointers (dOut and x, dOut and y) are
    // 16-byte aligned; one pass unless the two sums need different orders
    bool va = x != nullptr && aligned16(dout, x), vb = y != nullptr && aligned16(dout, y);
    bool second = x != nullptr && y != nullptr && va != vb;
    // the second order's pass first: it only reads, so dOut is still unwritten if dx or dy aliases it
    if (second) grid_elements(n, vb, [&](long long i) { sb += ld(dout, ddt, i) * ld(y, ydt, i); });
    grid_elements(n, x != nullptr ? va : vb, [&](long long i) {
        float g = ld(dout, ddt, i);
        if (x != nullptr) sa += g * ld(x, xdt, i);
        if (y != nullptr && !second) sb += g * ld(y, ydt, i);
        if (dx != nullptr) acc(dx, dxdt, i, fa * g);
        if (dy != nullptr) acc(dy, dydt, i, fb * g);
    });
    if (partials == nullptr) return;
    sa = block_sum(sa);
    sb = block_sum(sb);
    if (threadIdx.x == 0) {
        partials[blockIdx.x] = sa;
        partials[parts + blockIdx.x] = sb;
    }
}

// The second pass of mix_backward_partial's sums, both scalars in one launch (elementwise.cu's
// sum_finish takes one): da += ca·Σ partials[0, parts), db += cb·Σ partials[parts, 2·parts), each
// sum in sum_finish's order (one block, thread-strided, block_sum) and stored as it stores; da or
// db null: not written. One block.
extern "C" __global__ void mix_backward_finish(void* da, int dadt, void* db, int dbdt, const float* partials, int parts,
                                               float ca, float cb) {
    float s = 0.0f;
    for (int i = threadIdx.x; i < parts; i += blockDim.x) s += partials[i];
    s = block_sum(s);
    if (da != nullptr && threadIdx.x == 0) st(da, dadt, 0, ca * s + ld(da, dadt, 0));
    float t = 0.0f;
    for (int i = threadIdx.x; i < parts; i += blockDim.x) t += partials[parts + i];
    t = block_sum(t);
    if (db != nullptr && threadIdx.x == 0) st(db, dbdt, 0, cb * t + ld(db, dbdt, 0));
}

// embedding then add: out[t, c] = x[t, c] + e with e = table[tokens[t], c] rounded to out's dtype (the
// buffer the unfused embedding writes), NaN for an id outside [0, V) as embedding writes. out may
// alias x (each thread reads its element first). Grid-stride over T·C.
extern "C" __global__ void add_embedding(void* out, int odt, const void* x, int xdt, const void* table, int tdt,
                                         const int* tokens, int T, int C, int V) {
    long long n = (long long)T * C;
    GRID_LOOP(i, n) {
        long long t = i / C;
        int c = (int)(i % C);
        int id = tokens[t];
        float e = (id >= 0 && id < V) ? ld(table, tdt, (long long)id * C + c) : __int_as_float(0x7fc00000);
        st(out, odt, i, ld(x, xdt, i) + fused_round(odt, e));
    }
}

// head_gate then mix of its stored output: gate[t,h] = σ(x[t,:G]·w[h]), out[t,h,:] = y[t,h,:]·gate[t,h]
// (head_gate's arithmetic: each thread recomputes its G-term dot), and scaled = s·out (s [1] or
// null = 1) from the stored out, as mix(scaled, out, s, 1) would. One thread per (t,h,d).
extern "C" __global__ void head_gate_scaled(void* out, int odt, float* gate, void* scaled, int scdt, const void* s, int sdt,
                                            const void* y, int ydt, const void* x, int xdt, const void* w, int wdt, int T,
                                            int H, int D, int C, int G) {
    float fs = 1.0f * scalar_or_one(s, sdt);
    long long n = (long long)T * H * D;
    GRID_LOOP(i, n) {
        long long th = i / D;
        long long t = th / H;
        int h = (int)(th % H);
        float z = 0.0f;
        for (int c = 0; c < G; c++) z += ld(x, xdt, t * C + c) * ld(w, wdt, (long long)h * G + c);
        float g = 1.0f / (1.0f + expf(-z));
        float v = ld(y, ydt, i) * g;
        st(out, odt, i, v);
        st(scaled, scdt, i, fused_mix(fs, fused_round(odt, v), false, 0.0f, 0.0f));
        if (i % D == 0) gate[th] = g;
    }
}
