package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.VectorMath.F;
import static dev.speedrun.kernels.cpu.VectorMath.load;
import static dev.speedrun.kernels.cpu.VectorMath.store;

import java.lang.foreign.MemorySegment;

/**
 * Vector API kernels of the norms family ({@link CpuNorms}): row blocks of the RMS norm. Called
 * only when every tensor of the call is F32 and the incubator module is present ({@link Vectors});
 * results differ from the scalar double path by float rounding only.
 */
final class NormsVector {
    private NormsVector() {}

    // ------------------------------------------------------------------ rms norm

    /** Rows [r0, r1) of rmsNorm (C columns); row buffer a [C]. */
    static void rmsNorm(MemorySegment os, MemorySegment rs, MemorySegment xs, int C, int r0, int r1, double eps, float[] a) {
        for (int r = r0; r < r1; r++) {
            long off = (long) r * C;
            load(xs, off, a, C);
            double ss = 0;
            for (int c = 0; c < C; c++) ss += a[c] * a[c];
            double inv = 1.0 / Math.sqrt(ss / C + eps);
            float fi = (float) inv;
            for (int c = 0; c < C; c++) a[c] = (float) (a[c] * inv);
            store(a, os, off, C);
            rs.setAtIndex(F, r, fi);
        }
    }

    /** Rows [r0, r1) of rmsNormBackward; buffers a, b, c [C]. */
    static void rmsNormBackward(MemorySegment ds, MemorySegment gs, MemorySegment xs, MemorySegment rs, int C, int r0, int r1,
                                float[] x, float[] g, float[] d) {
        for (int r = r0; r < r1; r++) {
            long off = (long) r * C;
            load(xs, off, x, C);
            load(gs, off, g, C);
            load(ds, off, d, C);
            double inv = rs.getAtIndex(F, r);
            double dot = 0;
            for (int c = 0; c < C; c++) dot += g[c] * x[c];
            float mean = (float) (dot * inv / C), fi = (float) inv;
            for (int c = 0; c < C; c++) d[c] += fi * (g[c] - x[c] * fi * mean);
            store(d, ds, off, C);
        }
    }
}
