/* A host-memory stand-in for libcublasLt, compiled by CublasLtStubTest (gcc) so the FFM bindings,
 * the descriptor attributes and the row-major plan run end to end without a GPU. Matrices are
 * host pointers; cublasLtMatmul computes D = alpha·op(A)·op(B) + beta·C column-major (BLAS
 * semantics, F32 or BF16 elements, strided batches) and returns CUBLAS_STATUS_INVALID_VALUE (7)
 * for inconsistent descriptors, like the real library. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int type; uint64_t rows, cols; int64_t ld; int batch; int64_t stride; } Layout;
typedef struct { int compute, scale, transa, transb; } Desc;

int cublasLtCreate(void **h) { *h = (void *)0x1; return 0; }
int cublasLtDestroy(void *h) { return h == (void *)0x1 ? 0 : 7; }
size_t cublasLtGetVersion(void) { return 130100; }
const char *cublasLtGetStatusName(int s) { return s == 7 ? "CUBLAS_STATUS_INVALID_VALUE" : "CUBLAS_STATUS_STUB"; }

int cublasLtMatmulDescCreate(void **d, int compute, int scale) {
    Desc *x = calloc(1, sizeof(Desc)); x->compute = compute; x->scale = scale; *d = x;
    return compute == 68 && scale == 0 ? 0 : 7;
}
int cublasLtMatmulDescSetAttribute(void *d, int attr, const void *buf, size_t size) {
    Desc *x = d;
    if (attr == 3 && size == 4) { x->transa = *(const int *)buf; return 0; }
    if (attr == 4 && size == 4) { x->transb = *(const int *)buf; return 0; }
    if ((attr == 17 || attr == 18) && size == 8) return 0;
    if (attr == 25 && size == 1) return 0;
    return 7;
}
int cublasLtMatmulDescDestroy(void *d) { free(d); return 0; }

int cublasLtMatrixLayoutCreate(void **l, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    Layout *x = calloc(1, sizeof(Layout));
    x->type = type; x->rows = rows; x->cols = cols; x->ld = ld; x->batch = 1; x->stride = 0; *l = x;
    return (int64_t)rows <= ld ? 0 : 7;
}
int cublasLtMatrixLayoutSetAttribute(void *l, int attr, const void *buf, size_t size) {
    Layout *x = l;
    if (attr == 5 && size == 4) { x->batch = *(const int *)buf; return 0; }
    if (attr == 6 && size == 8) { x->stride = *(const int64_t *)buf; return 0; }
    return 7;
}
int cublasLtMatrixLayoutDestroy(void *l) { free(l); return 0; }

int cublasLtMatmulPreferenceCreate(void **p) { *p = calloc(1, 8); return 0; }
int cublasLtMatmulPreferenceSetAttribute(void *p, int attr, const void *buf, size_t size) {
    if (attr == 1 && size == 8) return 0;
    if (attr >= 5 && attr <= 8 && size == 4) {
        uint32_t a = *(const uint32_t *)buf;
        return a && (a & (a - 1)) == 0 && a <= 256 ? 0 : 7;
    }
    return 7;
}
int cublasLtMatmulPreferenceDestroy(void *p) { free(p); return 0; }

int cublasLtMatmulAlgoGetHeuristic(void *h, void *desc, void *a, void *b, void *c, void *d, void *pref, int requested,
                                   void *results, int *count) {
    if (requested < 1) return 7;
    memset(results, 0, 96);
    ((uint64_t *)results)[0] = 42;           /* algo id, checked in cublasLtMatmul */
    *count = 1;
    return 0;
}

static float load(const void *p, int type, int64_t i) {
    if (type == 0) return ((const float *)p)[i];
    uint32_t bits = (uint32_t)((const uint16_t *)p)[i] << 16; float f; memcpy(&f, &bits, 4); return f;
}
static void store(void *p, int type, int64_t i, float v) {
    if (type == 0) { ((float *)p)[i] = v; return; }
    uint32_t bits; memcpy(&bits, &v, 4);
    bits += 0x7FFF + ((bits >> 16) & 1);     /* round to nearest even */
    ((uint16_t *)p)[i] = (uint16_t)(bits >> 16);
}

int cublasLtMatmul(void *h, void *descp, const void *alpha, const void *A, void *Ad, const void *B, void *Bd,
                   const void *beta, const void *C, void *Cd, void *D, void *Dd, const void *algo, void *ws,
                   size_t wsSize, void *stream) {
    Desc *desc = descp; Layout *la = Ad, *lb = Bd, *lc = Cd, *ld = Dd;
    if (h != (void *)0x1 || algo == 0 || ((const uint64_t *)algo)[0] != 42 || ws == 0 || wsSize == 0) return 7;
    uint64_t m = ld->rows, n = ld->cols, k = desc->transa ? la->rows : la->cols;
    if ((desc->transa ? la->cols : la->rows) != m) return 7;
    if ((desc->transb ? lb->rows : lb->cols) != n) return 7;
    if ((desc->transb ? lb->cols : lb->rows) != k) return 7;
    if (lc->rows != m || lc->cols != n || la->batch != ld->batch || lb->batch != ld->batch) return 7;
    float al = *(const float *)alpha, be = *(const float *)beta;
    for (int bt = 0; bt < ld->batch; bt++)
        for (uint64_t i = 0; i < m; i++)
            for (uint64_t j = 0; j < n; j++) {
                float s = 0;
                for (uint64_t l = 0; l < k; l++) {
                    float a = desc->transa ? load(A, la->type, bt * la->stride + l + i * la->ld) : load(A, la->type, bt * la->stride + i + l * la->ld);
                    float b = desc->transb ? load(B, lb->type, bt * lb->stride + j + l * lb->ld) : load(B, lb->type, bt * lb->stride + l + j * lb->ld);
                    s += a * b;
                }
                int64_t o = bt * ld->stride + i + j * ld->ld;
                float r = al * s;
                if (be != 0) r += be * load(C, lc->type, bt * lc->stride + i + j * lc->ld);
                store(D, ld->type, o, r);
            }
    return 0;
}
