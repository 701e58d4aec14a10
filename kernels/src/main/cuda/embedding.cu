// Embedding lookup and its scatter-add backward.
#include "common.cuh"

// out[t,:] = table[tokens[t],:]; an id outside [0, V) writes NaN so the error cannot pass unseen.
extern "C" __global__ void embedding(void* out, int odt, const void* table, int tdt, const int* tokens, int T,
                                     int C, int V) {
    long long n = (long long)T * C;
    GRID_LOOP(i, n) {
        long long t = i / C;
        int c = (int)(i % C);
        int id = tokens[t];
        st(out, odt, i, (id >= 0 && id < V) ? ld(table, tdt, (long long)id * C + c) : __int_as_float(0x7fc00000));
    }
}

// dTable[tokens[t],:] += dOut[t,:] with atomics (F32 or BF16 table; BF16 atomics need sm_80+).
// Repeated tokens make the summation order vary between runs (within F32/BF16 rounding).
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
        if (dtdt == DT_BF16) atomicAdd(((__nv_bfloat16*)dtable) + j, __float2bfloat16_rn(g));
        else atomicAdd(((float*)dtable) + j, g);
    }
}
