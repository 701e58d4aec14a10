package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.VectorMath.load;
import static dev.speedrun.kernels.cpu.VectorMath.store;

import java.lang.foreign.MemorySegment;

/**
 * Vector API kernels of the rotary family ({@link CpuRotary}): one position of the rotary
 * embedding. Called only when every tensor of the call is F32 and the incubator module is present
 * ({@link Vectors}); results differ from the scalar double path by float rounding only.
 */
final class RotaryVector {
    private RotaryVector() {}

    // ------------------------------------------------------------------ rotary

    /**
     * Rotary of position p for all H heads (rows of H·D floats): forward writes R(θ)x, backward
     * adds R(−θ)·dOut; cs holds cos θ_j in [0, D/2) and sin θ_j in [D/2, D); products in double.
     */
    static void rotateRow(MemorySegment os, MemorySegment xs, int p, int H, int D, double[] cs, boolean backward,
                          float[] x, float[] o) {
        int half = D / 2, n = H * D;
        long off = (long) p * n;
        load(xs, off, x, n);
        if (backward) load(os, off, o, n);
        for (int h = 0; h < H; h++) {
            int base = h * D;
            for (int j = 0; j < half; j++) {
                double c = cs[j], s = cs[half + j], u = x[base + j], w = x[base + half + j];
                if (!backward) {
                    o[base + j] = (float) (u * c + w * s);
                    o[base + half + j] = (float) (-u * s + w * c);
                } else {
                    o[base + j] = (float) (o[base + j] + (u * c - w * s));
                    o[base + half + j] = (float) (o[base + half + j] + (u * s + w * c));
                }
            }
        }
        store(o, os, off, n);
    }
}
