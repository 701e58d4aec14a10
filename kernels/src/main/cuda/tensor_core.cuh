// Tensor-core building blocks. Every kernel that uses mma/ldmatrix does so through these device
// functions: real PTX on the GPU (__CUDA_ARCH__), and on the CPU emulation (CUDA_EMU) a definition
// that follows the fragment layouts of the PTX ISA ("Matrix fragments for mma.m16n8k16",
// "ldmatrix"), so tensor-core kernels are checked without a GPU too.
//
// Fragments of mma.m16n8k16 (groupID g = lane >> 2, t = lane & 3):
//   A 16×16 BF16, row-major, 4 × b32 = 8 elements: a[0] = A[g][2t..2t+1], a[1] = A[g+8][2t..2t+1],
//     a[2] = A[g][2t+8..2t+9], a[3] = A[g+8][2t+8..2t+9] (lower column in the low half)
//   B 16×8 BF16, "col" (k fastest): b[0] = B[2t..2t+1][g], b[1] = B[2t+8..2t+9][g]
//   C, D 16×8 F32: c[0..1] = C[g][2t..2t+1], c[2..3] = C[g+8][2t..2t+1]
#pragma once
#include <cuda_bf16.h>
#include <stdint.h>

// d = A·B + c for one warp (all 32 lanes): mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32.
__device__ __forceinline__ void mma_m16n8k16_bf16(float d[4], const uint32_t a[4], const uint32_t b[2], const float c[4]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%11,%12,%13};\n"
        : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#elif defined(CUDA_EMU)
    emu::mma_m16n8k16_bf16(d, a, b, c);
#endif
}

// ldmatrix.sync.aligned.m8n8.x4.shared.b16: lanes 8i..8i+7 pass the addresses of rows 0..7 of
// 8×8 matrix i (16-byte rows in shared memory); r[i] of lane l = matrix i, row l/4, columns
// 2(l%4), 2(l%4)+1.
__device__ __forceinline__ void ldmatrix_x4(uint32_t r[4], const void* row) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 750
    unsigned addr = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
#elif defined(CUDA_EMU)
    emu::ldmatrix_x4(r, row, false);
#endif
}

// The .trans form: r[i] of lane l = matrix i, rows 2(l%4) and 2(l%4)+1 of column l/4.
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t r[4], const void* row) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 750
    unsigned addr = (unsigned)__cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
#elif defined(CUDA_EMU)
    emu::ldmatrix_x4(r, row, true);
#endif
}
