// Emulated tensor-core fragments, following the PTX ISA's fragment layouts (see tensor_core.cuh).
#include "cuda_emu.h"

namespace emu {

static float bf16_bits(uint32_t reg, int half) {
    uint32_t bits = (half ? reg >> 16 : reg & 0xffffu) << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

extern "C" void emu_mma_m16n8k16_bf16_fn(void* const* ins, void* const* outs, unsigned, const void*) {
    float A[16][16], B[16][8], C[16][8];
    for (int lane = 0; lane < 32; lane++) {
        const MmaIn* in = (const MmaIn*)ins[lane];
        int g = lane >> 2, t = lane & 3;
        for (int i = 0; i < 8; i++) {
            int row = (i < 2 || (i >= 4 && i < 6)) ? g : g + 8;
            int col = t * 2 + (i & 1) + (i >= 4 ? 8 : 0);
            A[row][col] = bf16_bits(in->a[i >> 1], i & 1);
        }
        for (int i = 0; i < 4; i++) {
            int k = t * 2 + (i & 1) + (i >= 2 ? 8 : 0);
            B[k][g] = bf16_bits(in->b[i >> 1], i & 1);
            C[g + (i >= 2 ? 8 : 0)][t * 2 + (i & 1)] = in->c[i];
        }
    }
    for (int lane = 0; lane < 32; lane++) {
        float* d = (float*)outs[lane];
        int g = lane >> 2, t = lane & 3;
        for (int i = 0; i < 4; i++) {
            int row = g + (i >= 2 ? 8 : 0), col = t * 2 + (i & 1);
            float s = C[row][col];
            for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
            d[i] = s;
        }
    }
}

extern "C" void emu_ldmatrix_x4_fn(void* const* ins, void* const* outs, unsigned, const void* ctx) {
    bool trans = *(const int*)ctx != 0;
    const unsigned char* rows[32];
    for (int l = 0; l < 32; l++) rows[l] = *(const unsigned char* const*)ins[l];
    for (int l = 0; l < 32; l++) {
        uint32_t* r = (uint32_t*)outs[l];
        for (int m = 0; m < 4; m++) {
            if (!trans) {
                memcpy(&r[m], rows[m * 8 + l / 4] + (l % 4) * 4, 4);
            } else {
                uint16_t lo, hi;
                memcpy(&lo, rows[m * 8 + (l % 4) * 2] + (l / 4) * 2, 2);
                memcpy(&hi, rows[m * 8 + (l % 4) * 2 + 1] + (l / 4) * 2, 2);
                r[m] = (uint32_t)lo | ((uint32_t)hi << 16);
            }
        }
    }
}

}  // namespace emu
