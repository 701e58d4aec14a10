// Sanitizer pass of the emulated kernels (scripts/emu-sanitize.sh builds this with the kernels and
// the emulation runtime under -fsanitize=address,undefined): launches every kernel of the launch
// table with the launch shapes CudaOps uses, on small test shapes, each buffer its own exact-size
// heap allocation so an access one element outside it is reported. Exits non-zero on a launch
// failure (the sanitizers abort on their own findings).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cstdint>
#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <vector>

extern "C" int emu_launch(const char*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void**, int, int,
                          unsigned long long, int, char*, int);
extern "C" int emu_kernel_count();

static int failures = 0, launches = 0;
static std::vector<void*> owned;
static std::mt19937 rng(7);


template <typename T> static T* buf(size_t n, bool ints = false, int bound = 1) {
    T* p = (T*)malloc(n * sizeof(T));
    owned.push_back(p);
    std::normal_distribution<float> g;
    for (size_t i = 0; i < n; i++) {
        if constexpr (sizeof(T) == 4) {
            if (ints) { int v = (int)(rng() % bound); memcpy(&p[i], &v, 4); }
            else { float v = g(rng) * 0.5f; memcpy(&p[i], &v, 4); }
        } else {
            memset(&p[i], 0, sizeof(T));
        }
    }
    return p;
}
static float* f32(size_t n) { return buf<float>(n); }
static int* i32(size_t n, int bound) { return buf<int>(n, true, bound); }

template <typename... A> static void launch(const char* name, unsigned gx, unsigned gy, unsigned bx, unsigned by, A... args) {
    std::tuple<A...> vals(args...);
    void* params[sizeof...(A) + 1];
    std::apply([&](auto&... v) { int i = 0; ((params[i++] = (void*)&v), ...); }, vals);
    for (int order = 0; order < 3; order++) {
        char err[2048];
        launches++;
        if (emu_launch(name, gx, gy, 1, bx, by, 1, 0, params, order, 1, 11, 2, err, sizeof err) != 0) {
            fprintf(stderr, "FAIL %s (order %d): %s\n", name, order, err);
            failures++;
        }
    }
}

static unsigned grid(long long n) { long long g = (n + 255) / 256; return (unsigned)(g < 1 ? 1 : g > 65536 ? 65536 : g); }
static unsigned wgrid(long long rows) { return (unsigned)((rows + 7) / 8); }
// CudaOps.vectorised: a thread per 8 elements (VEC); CudaOps.FILL_BLOCKS caps the reductions' partials.
static unsigned vgrid(long long n) { return grid((n + 7) / 8); }
static const int FILL_BLOCKS = 132 * 8, REDUCE_BLOCK = 1024;

int main() {
    const int F = 0, B = 1;
    long long n = 1003;   // 125 vectors and a tail of 3 ending at the buffer's end
    const int T = 75, H = 2, D = 40, C = 48, V = 133, G = 12, R = 37;
    // elementwise
    launch("fill", vgrid(n), 1, 256, 1, (void*)f32(n), F, n, 0.5f);
    launch("convert", vgrid(n), 1, 256, 1, (void*)buf<uint16_t>(n), B, (const void*)f32(n), F, n);
    launch("add", vgrid(n), 1, 256, 1, (void*)f32(n), F, (const void*)f32(n), F, (const void*)f32(n), F, n);
    launch("mix", vgrid(n), 1, 256, 1, (void*)f32(n), F, (const void*)f32(n), F, (const void*)f32(1), F, 0.5f,
           (const void*)f32(n), F, (const void*)nullptr, F, -2.0f, n);
    launch("mix_backward_dx", vgrid(n), 1, 256, 1, (void*)f32(n), F, (const void*)f32(n), F, (const void*)f32(1), F, 1.5f, n);
    for (const char* k : {"sigmoid", "relu_squared"})
        launch(k, vgrid(n), 1, 256, 1, (void*)f32(n), F, (const void*)f32(n), F, n);
    for (const char* k : {"sigmoid_backward", "relu_squared_backward"})
        launch(k, vgrid(n), 1, 256, 1, (void*)f32(n), F, (const void*)f32(n), F, (const void*)f32(n), F, n);
    launch("token_mask", grid(n), 1, 256, 1, (void*)f32(n), F, (const int*)i32(n, 7), 3, 0.0f, 1.0f, n);
    launch("quantize_fp8", grid(n), 1, 256, 1, (void*)buf<uint8_t>(n), 0, (const void*)f32(n), F, (const float*)f32(1), 1LL, n, n, 0);
    // matmul_fp8's packing: [7, 11] transposed into [11, 16] (K = 7 zero-padded to 16)
    launch("quantize_fp8", grid(11 * 16), 1, 256, 1, (void*)buf<uint8_t>(11 * 16), 1, (const void*)f32(7 * 11), F, (const float*)f32(1),
           11LL, 7LL, 16LL, 1);
    // embedding, norms, rotary, key shift
    launch("embedding", vgrid((long long)T * C), 1, 256, 1, (void*)f32(T * C), F, (const void*)f32(V * C), F, (const int*)i32(T, V), T, C, V);
    launch("embedding_backward", grid((long long)T * C), 1, 256, 1, (void*)f32(V * C), F, (const void*)f32(T * C), F, (const int*)i32(T, V), T, C, V);
    launch("embedding_backward_apply", grid((long long)T * C), 1, 256, 1, (void*)f32(V * C), 1, f32(V * C), (const int*)i32(T, V), T, C, V);
    launch("rms_norm", wgrid(R), 1, 256, 1, (void*)f32(R * C), F, f32(R), (const void*)f32(R * C), F, R, C, 1e-6f);
    launch("rms_norm_backward", wgrid(R), 1, 256, 1, (void*)f32(R * C), F, (const void*)f32(R * C), F, (const void*)f32(R * C), F, (const float*)f32(R), R, C);
    // D = 40: the scalar paths (D/2 and D not multiples of 8 and 32); D = 64: the vector paths, BF16 too
    for (int d : {D, 64})
        for (int dt : {F, B}) {
            size_t sz = dt == B ? 2 : 4, thd = (size_t)T * H * d;
            launch("rotary", vgrid((long long)T * H * d / 2), 1, 256, 1, (void*)buf<uint32_t>(thd * sz / 4), dt,
                   (const void*)buf<uint32_t>(thd * sz / 4), dt, (const void*)f32(d / 2), F, T, H, d, -1.0f, 1);
            launch("key_shift", vgrid((long long)thd), 1, 256, 1, (void*)buf<uint32_t>(thd * sz / 4), dt,
                   (const void*)buf<uint32_t>(thd * sz / 4), dt, T, H, d);
            launch("key_shift_backward", vgrid((long long)thd), 1, 256, 1, (void*)buf<uint32_t>(thd * sz / 4), dt,
                   (const void*)buf<uint32_t>(thd * sz / 4), dt, T, H, d);
        }
    // attention over packed documents (an empty and a one-token document)
    int* cu = (int*)malloc(6 * sizeof(int));
    owned.push_back(cu);
    int cuv[6] = {0, 17, 17, 40, 41, T};
    memcpy(cu, cuv, sizeof cuv);
    int S = 6, W = 20, THD = T * H * D;
    float* lse = f32(H * T);
    float* delta = f32(H * T);
    launch("attention", wgrid(T), H, 256, 1, (void*)f32(THD), F, lse, (const void*)f32(THD), F, (const void*)f32(THD), F,
           (const void*)f32(THD), F, (const int*)cu, S, T, H, D, W, 0.12f);
    launch("attention_backward_delta", wgrid((long long)T * H), 1, 256, 1, delta, (const void*)f32(THD), F, (const void*)f32(THD), F, T, H, D);
    launch("attention_backward_dq", wgrid(T), H, 256, 1, (void*)f32(THD), F, (const void*)f32(THD), F, (const void*)f32(THD), F,
           (const void*)f32(THD), F, (const void*)f32(THD), F, (const float*)lse, (const float*)delta, (const int*)cu, S, T, H, D, W, 0.12f);
    launch("attention_backward_dkv", wgrid(T), H, 256, 1, (void*)f32(THD), F, (void*)f32(THD), F, (const void*)f32(THD), F, (const void*)f32(THD), F,
           (const void*)f32(THD), F, (const void*)f32(THD), F, (const float*)lse, (const float*)delta, (const int*)cu, S, T, H, D, W, 0.12f);
    // the tensor-core variants: BF16 q, k, v (16-byte aligned heap rows, D % 8 == 0 but not % 16),
    // F32 dout (the float4 load path), BF16 dq and dv, F32 dk; grid (ceil(T / 64), H), 4 warps
    unsigned tg = (unsigned)((T + 63) / 64);
    const void* qb = buf<uint16_t>(THD);
    const void* kb = buf<uint16_t>(THD);
    const void* vb = buf<uint16_t>(THD);
    launch("attention_mma", tg, H, 128, 1, (void*)buf<uint16_t>(THD), B, lse, qb, B, kb, B, vb, B, (const int*)cu, S, T, H, D, W, 0.12f);
    launch("attention_backward_dq_mma", tg, H, 128, 1, (void*)buf<uint16_t>(THD), B, (const void*)f32(THD), F, qb, B, kb, B, vb, B,
           (const float*)lse, (const float*)delta, (const int*)cu, S, T, H, D, W, 0.12f);
    launch("attention_backward_dkv_mma", tg, H, 128, 1, (void*)f32(THD), F, (void*)buf<uint16_t>(THD), B, (const void*)f32(THD), F,
           qb, B, kb, B, vb, B, (const float*)lse, (const float*)delta, (const int*)cu, S, T, H, D, W, 0.12f);
    // gates
    int HD = 8;
    float* gate = f32(T * H);
    float* gp = f32(T * H);
    launch("head_gate", vgrid((long long)T * H * HD), 1, 256, 1, (void*)f32(T * H * HD), F, gate, (const void*)f32(T * H * HD), F,
           (const void*)f32(T * C), F, (const void*)f32(H * G), F, T, H, HD, C, G);
    launch("head_gate_backward_dy", wgrid((long long)T * H), 1, 256, 1, (void*)f32(T * H * HD), F, gp, (const void*)f32(T * H * HD), F,
           (const void*)f32(T * H * HD), F, (const float*)gate, T, H, HD);
    launch("head_gate_backward_dx", grid((long long)T * G), 1, 256, 1, (void*)f32(T * C), F, (const float*)gp, (const void*)f32(H * G), F, T, H, C, G);
    launch("head_gate_backward_dw", H * G, 1, REDUCE_BLOCK, 1, (void*)f32(H * G), F, (const float*)gp, (const void*)f32(T * C), F, T, H, C, G);
    float* sgate = f32(T);
    float* dotp = f32(T);
    launch("smear", vgrid((long long)T * C), 1, 256, 1, (void*)f32(T * C), F, sgate, (const void*)f32(T * C), F, (const void*)f32(G), F,
           (const void*)f32(1), F, T, C, G);
    launch("smear_backward_dot", wgrid(T), 1, 256, 1, dotp, (const void*)f32(T * C), F, (const void*)f32(T * C), F, T, C);
    launch("smear_backward_dx", vgrid((long long)T * C), 1, 256, 1, (void*)f32(T * C), F, (const void*)f32(T * C), F, (const void*)f32(G), F,
           (const void*)f32(1), F, (const float*)sgate, (const float*)dotp, T, C, G);
    launch("smear_backward_params", G + 1, 1, REDUCE_BLOCK, 1, (void*)f32(G), F, (void*)f32(1), F, (const void*)f32(T * C), F, (const void*)f32(1), F,
           (const float*)sgate, (const float*)dotp, T, C, G);
    // GEMM (every transpose, a batch of 2)
    int M = 19, N = 23, K = 37;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            launch("matmul_tiled", (N + 15) / 16, (M + 15) / 16, 16, 16, (void*)f32(M * N), F, (const void*)f32(M * K), F,
                   (const void*)f32(K * N), F, M, N, K, ta, tb, 0LL, 0LL, 0LL, 1.5f, 0.0f);
    launch("matmul_fp8", (N + 15) / 16, (M + 15) / 16, 16, 16, (void*)f32(M * N), F, (const void*)buf<uint8_t>(M * 48), 0,
           (const void*)buf<uint8_t>(N * 48), 1, (const float*)f32(1), (const float*)f32(1), M, N, 48, 1.0f);
    // loss
    float* mw = f32(8);
    mw[0] = 1; mw[1] = 0.5f; mw[2] = 0.25f;
    launch("softcap_cross_entropy", T, 1, 512, 1, (void*)f32(T), F, (void*)f32(T * V), F, (const void*)f32(T * V), F, (const int*)i32(T, V),
           (const void*)f32(T), F, (const float*)mw, 3, T, V, 30.0f, 7.5f, 0.25f);
    // reductions and optimizer kernels
    int parts = (int)std::min<long long>(FILL_BLOCKS, (n + 2047) / 2048);
    float* partials = f32(parts);
    launch("sum_partial", parts, 1, 256, 1, partials, (const void*)f32(n), F, (const void*)f32(n), F, n, 2);
    launch("sum_finish", 1, 1, 256, 1, (void*)f32(1), F, (const float*)partials, parts, 1.0f, 1);
    long long per = 48 * 64;
    int fparts = (int)std::min<long long>((FILL_BLOCKS + 2) / 3, (per + 2047) / 2048);
    float* fp = f32(3 * fparts);
    launch("frobenius_normalize_partial", fparts, 3, 256, 1, fp, (const void*)f32(3 * per), F, per);
    launch("frobenius_normalize_scale", vgrid(per), 3, 256, 1, (void*)f32(3 * per), F, (const void*)f32(3 * per), F, (const float*)fp, fparts, per, 1.02f, 1e-6f);
    float* mu = f32(3 * 48);
    float* rho = f32(3 * 48);
    float* sc = f32(3);
    float* v = f32(3 * per);
    launch("variance_reduce_rows", 3 * 48, 1, 256, 1, mu, rho, (const void*)v, F, (void*)f32(3 * 48), F, 64, 0.95f);
    launch("variance_reduce_matrix", 3, 1, 256, 1, sc, (const float*)mu, (const float*)rho, 48, 64);
    launch("variance_reduce_apply", 3 * 48, 1, 256, 1, (void*)v, F, (const float*)rho, (const float*)sc, 48, 64);
    launch("adam_step", vgrid(n), 1, 256, 1, (void*)f32(n), F, (const void*)f32(n), F, (void*)buf<uint16_t>(n), B, (void*)buf<uint16_t>(n), B,
           n, 0.65f, 0.95f, 1e-8f, 0.01f, 0.01f, 2);
    launch("muon_momentum", vgrid(n), 1, 256, 1, (void*)f32(n), F, (void*)f32(n), F, (const void*)f32(n), F, n, 0.95f);
    launch("decayed_update", vgrid(n), 1, 256, 1, (void*)f32(n), F, (const void*)f32(n), F, n, 0.02f, 0.001f, 1);
    for (void* p : owned) free(p);
    printf("emu-sanitize: %d launches of the %d registered kernels (3 thread orders each), %d failures\n", launches, emu_kernel_count(), failures);
    return failures == 0 ? 0 : 1;
}
