package dev.speedrun.kernels.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Shared pieces of the Vector API kernels ({@code *Vector} classes of each op family): the float
 * species, F32 segment bulk copies, and the dot and axpy loops of the attention family. Loaded
 * only when the incubator module is present ({@link CpuGemm#vectorized()}). Throughout these
 * kernels products and short sums (≤ head dim) are float; long sums (softmax denominators,
 * losses) and exponentials are double or exact to 1 ulp.
 */
final class VectorMath {
    private VectorMath() {}

    static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    static final int FV = FS.length();
    static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    // ------------------------------------------------------------------ array helpers

    /**
     * Σ a[ao+d]·b[bo+d] in double: attention scores feed exp(), where a float dot's rounding
     * shows up in outputs that are sums of cancelling terms.
     */
    static double dotD(float[] a, int ao, float[] b, int bo, int n) {
        double s0 = 0, s1 = 0;
        int d = 0;
        for (; d + 1 < n; d += 2) {
            s0 += (double) a[ao + d] * b[bo + d];
            s1 += (double) a[ao + d + 1] * b[bo + d + 1];
        }
        if (d < n) s0 += (double) a[ao + d] * b[bo + d];
        return s0 + s1;
    }

    /** y[yo+d] += alpha·x[xo+d], d < n. */
    static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        int d = 0;
        if (n >= FV) {
            FloatVector va = FloatVector.broadcast(FS, alpha);
            for (int ub = FS.loopBound(n); d < ub; d += FV)
                va.fma(FloatVector.fromArray(FS, x, xo + d), FloatVector.fromArray(FS, y, yo + d)).intoArray(y, yo + d);
        }
        for (; d < n; d++) y[yo + d] += alpha * x[xo + d];
    }

    /** Copies head h of rows [from, to) of a [T,H,D] F32 segment into dst[(t−from)·D + d]. */
    static void gatherHead(MemorySegment s, int h, int H, int D, int from, int to, float[] dst) {
        for (int t = from; t < to; t++)
            MemorySegment.copy(s, F, (((long) t * H + h) * D) * 4L, dst, (t - from) * D, D);
    }

    /** seg[idx .. idx+n) += src[so .. so+n) (F32). */
    static void addInto(MemorySegment seg, long idx, float[] src, int so, int n) {
        long b = idx * 4L;
        int d = 0;
        for (int ub = FS.loopBound(n); d < ub; d += FV, b += 4L * FV)
            FloatVector.fromMemorySegment(FS, seg, b, NATIVE).add(FloatVector.fromArray(FS, src, so + d)).intoMemorySegment(seg, b, NATIVE);
        for (; d < n; d++, b += 4) seg.set(F, b, seg.get(F, b) + src[so + d]);
    }

    /** seg[idx .. idx+n) += alpha·src[so .. so+n) (F32). */
    static void addScaledInto(MemorySegment seg, long idx, float alpha, float[] src, int so, int n) {
        long b = idx * 4L;
        int d = 0;
        FloatVector va = FloatVector.broadcast(FS, alpha);
        for (int ub = FS.loopBound(n); d < ub; d += FV, b += 4L * FV)
            va.fma(FloatVector.fromArray(FS, src, so + d), FloatVector.fromMemorySegment(FS, seg, b, NATIVE)).intoMemorySegment(seg, b, NATIVE);
        for (; d < n; d++, b += 4) seg.set(F, b, seg.get(F, b) + alpha * src[so + d]);
    }


    // ------------------------------------------------------------------ elementwise on segments
    // Chunks are bulk-copied into per-thread float arrays, where C2 vectorises the plain loops
    // (element-wise segment accessors are not), and copied back.

    static final int CH = 2048;

    static float[] buf(int i) { return Scratch.floats(Scratch.TASK + 6 + i, CH); }

    static void load(MemorySegment s, long i, float[] dst, int n) { MemorySegment.copy(s, F, i * 4, dst, 0, n); }

    static void store(float[] src, MemorySegment s, long i, int n) { MemorySegment.copy(src, 0, s, F, i * 4, n); }
}
