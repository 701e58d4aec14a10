// Reference implementation of the cuBLASLt API the project uses, for the emulated CUDA device:
// the same entry points, attribute numbers and statuses as libcublasLt, computing on host memory
// (the emulated device memory). cublasLtMatmul: D = alpha·scaleA·scaleB·op(A)·op(B) + beta·C,
// column-major with transposes, leading dimensions and strided batches; A/B F32, BF16 or FP8
// (E4M3, E5M2; per-tensor scale pointers), C/D F32 or BF16, F32 accumulation, results rounded to
// D's type. The heuristic answers CUBLAS_STATUS_NOT_SUPPORTED with no algorithm where the real
// library has none: mixed A/B types, FP8 outside the "TN" form, FP8 × E5M2·E5M2, FP8 below
// compute capability 8.9, FP8 pointers or leading dimensions not 16-byte aligned, pointers less
// aligned than their element.
#include <atomic>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vector>

namespace {

enum Status { SUCCESS = 0, NOT_INITIALIZED = 1, INVALID_VALUE = 7, NOT_SUPPORTED = 15 };
enum Type { R_32F = 0, R_16BF = 14, R_8F_E4M3 = 28, R_8F_E5M2 = 29 };
const int COMPUTE_32F = 68;
const uint64_t HANDLE_MAGIC = 0x63756c7468616e64ull, ALGO_MAGIC = 0x616c676f656d7531ull;

int g_compute_capability = 90;
bool g_refuse_all = false;   // test hook: the heuristic finds no algorithm for anything

struct Handle { uint64_t magic; };
struct Desc {
    int compute, scale, transa = 0, transb = 0;
    const float *aScale = nullptr, *bScale = nullptr, *cScale = nullptr, *dScale = nullptr;
    bool fastAccum = false;
};
struct Layout {
    int type;
    uint64_t rows, cols;
    int64_t ld;
    int batch = 1;
    int64_t stride = 0;
};
struct Pref {
    uint64_t workspace = 0;
    uint32_t align[4] = {256, 256, 256, 256};   // A, B, C, D
};

size_t elem_bytes(int t) { return t == R_32F ? 4 : t == R_16BF ? 2 : 1; }
bool fp8(int t) { return t == R_8F_E4M3 || t == R_8F_E5M2; }
bool known_type(int t) { return t == R_32F || t == R_16BF || fp8(t); }

float load(const void* p, int t, int64_t i) {
    switch (t) {
        case R_32F: return ((const float*)p)[i];
        case R_16BF: return __bfloat162float(((const __nv_bfloat16*)p)[i]);
        case R_8F_E4M3: return (float)((const __nv_fp8_e4m3*)p)[i];
        default: return (float)((const __nv_fp8_e5m2*)p)[i];
    }
}

void store(void* p, int t, int64_t i, float v) {
    switch (t) {
        case R_32F: ((float*)p)[i] = v; break;
        case R_16BF: ((__nv_bfloat16*)p)[i] = __float2bfloat16_rn(v); break;
        case R_8F_E4M3: ((__nv_fp8_e4m3*)p)[i] = __nv_fp8_e4m3(v); break;
        default: ((__nv_fp8_e5m2*)p)[i] = __nv_fp8_e5m2(v); break;
    }
}

// The shape check every call makes: (m, n, k) from the layouts and transposes, or INVALID_VALUE.
int shape(const Desc* d, const Layout* a, const Layout* b, const Layout* c, const Layout* dl, uint64_t* m, uint64_t* n, uint64_t* k) {
    *m = dl->rows;
    *n = dl->cols;
    *k = d->transa ? a->rows : a->cols;
    if ((d->transa ? a->cols : a->rows) != *m) return INVALID_VALUE;
    if ((d->transb ? b->rows : b->cols) != *n) return INVALID_VALUE;
    if ((d->transb ? b->cols : b->rows) != *k) return INVALID_VALUE;
    if (c->rows != *m || c->cols != *n) return INVALID_VALUE;
    for (const Layout* l : {a, b, c, dl})
        if (l->ld < (int64_t)l->rows || l->ld < 1) return INVALID_VALUE;
    if (a->batch != dl->batch || b->batch != dl->batch || c->batch != dl->batch) return INVALID_VALUE;
    return SUCCESS;
}

// Whether an algorithm exists for this problem (the rules in the file comment).
bool supported(const Desc* d, const Layout* a, const Layout* b, const Layout* c, const Layout* dl, const Pref* p) {
    if (d->compute != COMPUTE_32F || d->scale != R_32F) return false;
    if (!known_type(a->type) || !known_type(b->type) || !known_type(c->type) || !known_type(dl->type)) return false;
    if (c->type != dl->type) return false;
    if (fp8(a->type) || fp8(b->type)) {
        if (!fp8(a->type) || !fp8(b->type)) return false;
        if (a->type == R_8F_E5M2 && b->type == R_8F_E5M2) return false;
        if (g_compute_capability < 89) return false;
        if (!d->transa || d->transb) return false;   // Hopper FP8 GEMMs are "TN" only
        if (dl->type != R_32F && dl->type != R_16BF) return false;
        for (int i = 0; i < 4; i++) if (p->align[i] < 16) return false;
        for (const Layout* l : {a, b, c, dl})
            if ((l->ld * (int64_t)elem_bytes(l->type)) % 16 != 0) return false;
        return true;
    }
    if (a->type != b->type) return false;
    if (a->type == R_32F && dl->type != R_32F) return false;
    if (a->type == R_16BF && dl->type != R_32F && dl->type != R_16BF) return false;
    if (p->align[0] < elem_bytes(a->type) || p->align[1] < elem_bytes(b->type) || p->align[2] < elem_bytes(c->type)
        || p->align[3] < elem_bytes(dl->type))
        return false;
    return true;
}

}  // namespace

extern "C" {

/** The compute capability the reference answers for (the emulated device's). */
void emu_cublaslt_set_compute_capability(int cc) { g_compute_capability = cc; }

/** Test hook: with refuse != 0 the heuristic answers NOT_SUPPORTED for every problem. */
void emu_cublaslt_refuse_all(int refuse) { g_refuse_all = refuse != 0; }

int cublasLtCreate(void** h) {
    if (!h) return INVALID_VALUE;
    *h = new Handle{HANDLE_MAGIC};
    return SUCCESS;
}

int cublasLtDestroy(void* h) {
    if (!h || ((Handle*)h)->magic != HANDLE_MAGIC) return NOT_INITIALIZED;
    ((Handle*)h)->magic = 0;
    delete (Handle*)h;
    return SUCCESS;
}

size_t cublasLtGetVersion(void) { return 130100; }

const char* cublasLtGetStatusName(int s) {
    switch (s) {
        case 0: return "CUBLAS_STATUS_SUCCESS";
        case 1: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case 3: return "CUBLAS_STATUS_ALLOC_FAILED";
        case 7: return "CUBLAS_STATUS_INVALID_VALUE";
        case 8: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case 13: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case 14: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case 15: return "CUBLAS_STATUS_NOT_SUPPORTED";
        default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

int cublasLtMatmulDescCreate(void** d, int compute, int scale) {
    if (!d) return INVALID_VALUE;
    Desc* x = new Desc();
    x->compute = compute;
    x->scale = scale;
    *d = x;
    return SUCCESS;
}

int cublasLtMatmulDescSetAttribute(void* dp, int attr, const void* buf, size_t size) {
    Desc* d = (Desc*)dp;
    if (!d || !buf) return INVALID_VALUE;
    switch (attr) {
        case 3: if (size != 4) return INVALID_VALUE; d->transa = *(const int*)buf; return d->transa <= 1 ? SUCCESS : NOT_SUPPORTED;
        case 4: if (size != 4) return INVALID_VALUE; d->transb = *(const int*)buf; return d->transb <= 1 ? SUCCESS : NOT_SUPPORTED;
        case 17: if (size != 8) return INVALID_VALUE; d->aScale = *(const float* const*)buf; return SUCCESS;
        case 18: if (size != 8) return INVALID_VALUE; d->bScale = *(const float* const*)buf; return SUCCESS;
        case 19: if (size != 8) return INVALID_VALUE; d->cScale = *(const float* const*)buf; return SUCCESS;
        case 20: if (size != 8) return INVALID_VALUE; d->dScale = *(const float* const*)buf; return SUCCESS;
        case 25: if (size != 1) return INVALID_VALUE; d->fastAccum = *(const int8_t*)buf != 0; return SUCCESS;
        default: return INVALID_VALUE;
    }
}

int cublasLtMatmulDescDestroy(void* d) {
    delete (Desc*)d;
    return SUCCESS;
}

int cublasLtMatrixLayoutCreate(void** l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    if (!l) return INVALID_VALUE;
    Layout* x = new Layout();
    x->type = type;
    x->rows = rows;
    x->cols = cols;
    x->ld = ld;
    *l = x;
    return SUCCESS;
}

int cublasLtMatrixLayoutSetAttribute(void* lp, int attr, const void* buf, size_t size) {
    Layout* l = (Layout*)lp;
    if (!l || !buf) return INVALID_VALUE;
    if (attr == 5 && size == 4) { l->batch = *(const int*)buf; return l->batch >= 1 ? SUCCESS : INVALID_VALUE; }
    if (attr == 6 && size == 8) { l->stride = *(const int64_t*)buf; return SUCCESS; }
    return INVALID_VALUE;
}

int cublasLtMatrixLayoutDestroy(void* l) {
    delete (Layout*)l;
    return SUCCESS;
}

int cublasLtMatmulPreferenceCreate(void** p) {
    if (!p) return INVALID_VALUE;
    *p = new Pref();
    return SUCCESS;
}

int cublasLtMatmulPreferenceSetAttribute(void* pp, int attr, const void* buf, size_t size) {
    Pref* p = (Pref*)pp;
    if (!p || !buf) return INVALID_VALUE;
    if (attr == 1 && size == 8) { p->workspace = *(const uint64_t*)buf; return SUCCESS; }
    if (attr >= 5 && attr <= 8 && size == 4) {
        uint32_t a = *(const uint32_t*)buf;
        if (a == 0 || (a & (a - 1)) != 0) return INVALID_VALUE;
        p->align[attr - 5] = a;
        return SUCCESS;
    }
    return INVALID_VALUE;
}

int cublasLtMatmulPreferenceDestroy(void* p) {
    delete (Pref*)p;
    return SUCCESS;
}

// results: cublasLtMatmulHeuristicResult_t (96 bytes: algo 64, workspaceSize 8, state 4, waves 4, reserved 16).
int cublasLtMatmulAlgoGetHeuristic(void* h, void* desc, void* a, void* b, void* c, void* d, void* pref, int requested,
                                   void* results, int* count) {
    if (!h || ((Handle*)h)->magic != HANDLE_MAGIC) return NOT_INITIALIZED;
    if (!desc || !a || !b || !c || !d || !pref || !results || !count || requested < 1) return INVALID_VALUE;
    *count = 0;
    uint64_t m, n, k;
    int st = shape((Desc*)desc, (Layout*)a, (Layout*)b, (Layout*)c, (Layout*)d, &m, &n, &k);
    if (st != SUCCESS) return st;
    if (g_refuse_all || !supported((Desc*)desc, (Layout*)a, (Layout*)b, (Layout*)c, (Layout*)d, (Pref*)pref)) return NOT_SUPPORTED;
    memset(results, 0, 96);
    ((uint64_t*)results)[0] = ALGO_MAGIC;
    *count = 1;
    return SUCCESS;
}

// GEMMs run since load (calls, FLOPs = 2·m·n·k per batch entry), all devices together: the
// emulator's own count, which the launch profile is checked against.
static std::atomic<unsigned long long> g_matmuls{0};
static std::atomic<double> g_matmul_flops{0.0};

__attribute__((visibility("default"))) void emu_cublaslt_counts(double* out) {
    out[0] = (double)g_matmuls.load();
    out[1] = g_matmul_flops.load();
}

int cublasLtMatmul(void* h, void* descp, const void* alpha, const void* A, void* Ad, const void* B, void* Bd, const void* beta,
                   const void* C, void* Cd, void* D, void* Dd, const void* algo, void* ws, size_t wsSize, void* stream) {
    (void)ws; (void)wsSize; (void)stream;
    if (!h || ((Handle*)h)->magic != HANDLE_MAGIC) return NOT_INITIALIZED;
    if (!descp || !alpha || !beta || !A || !B || !D || !Ad || !Bd || !Cd || !Dd) return INVALID_VALUE;
    if (algo && ((const uint64_t*)algo)[0] != ALGO_MAGIC) return INVALID_VALUE;
    const Desc* d = (const Desc*)descp;
    const Layout *la = (const Layout*)Ad, *lb = (const Layout*)Bd, *lc = (const Layout*)Cd, *ld = (const Layout*)Dd;
    uint64_t m, n, k;
    int st = shape(d, la, lb, lc, ld, &m, &n, &k);
    if (st != SUCCESS) return st;
    Pref p;
    if (!supported(d, la, lb, lc, ld, &p)) return NOT_SUPPORTED;
    g_matmuls++;
    {
        double f = 2.0 * (double)m * (double)n * (double)k * (double)ld->batch, old = g_matmul_flops.load();
        while (!g_matmul_flops.compare_exchange_weak(old, old + f)) {}
    }
    float al = *(const float*)alpha, be = *(const float*)beta;
    if (fp8(la->type)) al *= (d->aScale ? *d->aScale : 1.0f) * (d->bScale ? *d->bScale : 1.0f);
    if (be != 0 && !C) return INVALID_VALUE;
    // op(A) rows and op(B) columns, unpacked to F32 so every dot product runs over contiguous k.
    std::vector<float> a(m * k), bt(n * k);
    for (int bi = 0; bi < ld->batch; bi++) {
        for (uint64_t i = 0; i < m; i++)
            for (uint64_t l = 0; l < k; l++)
                a[i * k + l] = load(A, la->type, bi * la->stride + (d->transa ? l + i * la->ld : i + l * la->ld));
        for (uint64_t j = 0; j < n; j++)
            for (uint64_t l = 0; l < k; l++)
                bt[j * k + l] = load(B, lb->type, bi * lb->stride + (d->transb ? j + l * lb->ld : l + j * lb->ld));
        for (uint64_t j = 0; j < n; j++)
            for (uint64_t i = 0; i < m; i++) {
                const float *x = &a[i * k], *y = &bt[j * k];
                float s = 0;
                for (uint64_t l = 0; l < k; l++) s += x[l] * y[l];
                float r = al * s;
                if (be != 0) r += be * load(C, lc->type, bi * lc->stride + i + j * lc->ld);
                store(D, ld->type, bi * ld->stride + i + j * ld->ld, r);
            }
    }
    return SUCCESS;
}

}  // extern "C"
