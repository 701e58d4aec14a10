// Embedding lookup and its scatter-add backward.
#include "common.cuh"

// out[t,:] = table[tokens[t],:]; an id outside [0, V) writes NaN so the error cannot pass unseen.
// 8-element vectors along the row where C % 8 == 0 and both tensors are 16-byte aligned.
extern "C" __global__ void embedding(void* out, int odt, const void* table, int tdt, const int* tokens, int T,
                                     int C, int V) {
    dispatch((long long)(T > V ? T : V) * C, [&](auto I, auto O, auto TB) {
        using Ix = typename decltype(I)::type;
        auto os = typed(O, out);
        auto ts = typed(TB, table);
        rows_each((Ix)T, (Ix)C, C % VEC == 0 && aligned16(out, table), [&](auto w, Ix t, Ix c) {
            float v[W_OF(w)];
            int id = tokens[t];
            if (id >= 0 && id < V) ldv(w, ts + (Ix)id * (Ix)C + c, v);
            else for (int k = 0; k < W_OF(w); k++) v[k] = __int_as_float(0x7fc00000);
            stv(w, os + t * (Ix)C + c, v);
        });
    }, odt, tdt);
}

// dTable[tokens[t],:] += dOut[t,:] with F32 atomics; dtable is F32 (dtdt = DT_F32: CudaOps runs a
// BF16 table through an F32 accumulator here, then embedding_backward_apply). Repeated tokens make
// the summation order vary between runs (within F32 rounding).
extern "C" __global__ void embedding_backward(void* dtable, int dtdt, const void* dout, int ddt, const int* tokens,
                                              int T, int C, int V) {
    long long n = (long long)T * C;
    GRID_LOOP(i, n) {
        long long t = i / C;
        int c = (int)(i % C);
        int id = tokens[t];
        if (id < 0 || id >= V) continue;
        float g = ld(dout, ddt, i);
        long long j = (long long)id * C + c;
        atomicAdd(((float*)dtable) + j, g);
    }
}

// BF16 gradient table, step 2: acc [V, C] F32 holds this call's sums per token row (step 1,
// embedding_backward into acc). dTable[id, c] = bf16(dTable[id, c] + bf16(acc[id, c])) once per
// touched element, as the record's BF16 embedding gradient of one backward (F32 sums, one
// rounding) added into the BF16 .grad. Of the positions sharing a token, the one whose exchange
// takes the sum writes it; the exchange also leaves acc all zero for the next call, so it never
// needs clearing.
extern "C" __global__ void embedding_backward_apply(void* dtable, int dtdt, float* acc, const int* tokens, int T,
                                                    int C, int V) {
    long long n = (long long)T * C;
    GRID_LOOP(i, n) {
        long long t = i / C;
        int c = (int)(i % C);
        int id = tokens[t];
        if (id < 0 || id >= V) continue;
        long long j = (long long)id * C + c;
        float s = __int_as_float(atomicExch((int*)(acc + j), 0));
        if (s != 0.0f) acc_grad(dtable, dtdt, j, s);
    }
}
