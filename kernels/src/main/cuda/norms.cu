// RMS norm without weights over the last axis: one warp per row, F32 accumulation.
#include "common.cuh"

// out[r] = x[r]·rrms[r], rrms[r] = 1/sqrt(mean(x[r]²) + eps). out may alias x.
// Block = 256 threads = 8 rows; grid = ceil(R / 8).
extern "C" __global__ void rms_norm(void* out, int odt, float* rrms, const void* x, int xdt, int R, int C,
                                    float eps) {
    int lane = threadIdx.x & 31;
    long long r = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= R) return;
    long long base = r * C;
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float v = ld(x, xdt, base + c);
        s += v * v;
    }
    s = warp_sum(s);
    float rr = rsqrtf(s / (float)C + eps);
    for (int c = lane; c < C; c += 32) st(out, odt, base + c, ld(x, xdt, base + c) * rr);
    if (lane == 0) rrms[r] = rr;
}

// dx += rrms·(dOut − y·mean(dOut·y)), y = x·rrms. Same launch shape as the forward.
extern "C" __global__ void rms_norm_backward(void* dx, int dxdt, const void* dout, int ddt, const void* x, int xdt,
                                             const float* rrms, int R, int C) {
    int lane = threadIdx.x & 31;
    long long r = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (r >= R) return;
    long long base = r * C;
    float rr = rrms[r];
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += ld(dout, ddt, base + c) * ld(x, xdt, base + c) * rr;
    float m = warp_sum(s) / (float)C;
    for (int c = lane; c < C; c += 32) {
        float y = ld(x, xdt, base + c) * rr;
        acc(dx, dxdt, base + c, rr * (ld(dout, ddt, base + c) - y * m));
    }
}
