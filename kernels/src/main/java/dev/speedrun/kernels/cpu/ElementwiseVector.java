package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.VectorMath.CH;
import static dev.speedrun.kernels.cpu.VectorMath.buf;
import static dev.speedrun.kernels.cpu.VectorMath.load;
import static dev.speedrun.kernels.cpu.VectorMath.store;

import java.lang.foreign.MemorySegment;

/**
 * Vector API kernels of the elementwise family ({@link CpuElementwise}): chunks are bulk-copied
 * into per-thread float arrays, where C2 vectorises the plain loops, and copied back. Called only
 * when every tensor of the call is F32 and the incubator module is present ({@link Vectors});
 * results differ from the scalar double path by float rounding only.
 */
final class ElementwiseVector {
    private ElementwiseVector() {}

    /** out = x + y over [from, to). */
    static void add(MemorySegment o, MemorySegment x, MemorySegment y, long from, long to) {
        float[] a = buf(0), b = buf(1);
        for (long i = from; i < to; i += CH) {
            int n = (int) Math.min(CH, to - i);
            load(x, i, a, n);
            load(y, i, b, n);
            for (int j = 0; j < n; j++) a[j] += b[j];
            store(a, o, i, n);
        }
    }

    /** out = fa·x (+ fb·y when y is not null) over [from, to); coefficients rounded to float. */
    static void mix(MemorySegment o, MemorySegment x, float fa, MemorySegment y, float fb, long from, long to) {
        float[] a = buf(0), b = buf(1);
        for (long i = from; i < to; i += CH) {
            int n = (int) Math.min(CH, to - i);
            load(x, i, a, n);
            if (y == null) for (int j = 0; j < n; j++) a[j] *= fa;
            else {
                load(y, i, b, n);
                for (int j = 0; j < n; j++) a[j] = fa * a[j] + fb * b[j];
            }
            store(a, o, i, n);
        }
    }

    /**
     * Backward of mix over [from, to): sums[2·si] = Σ g·x, sums[2·si+1] = Σ g·y (double; 0 for
     * null x/y), and dx += fa·g, dy += fb·g (null targets skipped). Reads before writing, so
     * dx/dy may alias g.
     */
    static void mixBackward(MemorySegment dx, MemorySegment dy, MemorySegment g, MemorySegment x, MemorySegment y,
                            float fa, float fb, long from, long to, double[] sums, int si) {
        float[] gb = buf(0), b = buf(1), g2 = buf(2);
        double sa = 0, sb = 0;
        for (long i = from; i < to; i += CH) {
            int n = (int) Math.min(CH, to - i);
            load(g, i, gb, n);
            if (x != null) { load(x, i, b, n); double s = 0; for (int j = 0; j < n; j++) s += gb[j] * b[j]; sa += s; }
            if (y != null) { load(y, i, b, n); double s = 0; for (int j = 0; j < n; j++) s += gb[j] * b[j]; sb += s; }
            if (dx != null) {
                load(dx, i, b, n);
                for (int j = 0; j < n; j++) b[j] += fa * gb[j];
                if (dy != null) System.arraycopy(gb, 0, g2, 0, n); // dy may alias dx's source g
                store(b, dx, i, n);
                if (dy != null) {
                    load(dy, i, b, n);
                    for (int j = 0; j < n; j++) b[j] += fb * g2[j];
                    store(b, dy, i, n);
                }
            } else if (dy != null) {
                load(dy, i, b, n);
                for (int j = 0; j < n; j++) b[j] += fb * gb[j];
                store(b, dy, i, n);
            }
        }
        sums[2 * si] = sa;
        sums[2 * si + 1] = sb;
    }

    /** out = relu(x)² over [from, to). */
    static void reluSquared(MemorySegment o, MemorySegment x, long from, long to) {
        float[] a = buf(0);
        for (long i = from; i < to; i += CH) {
            int n = (int) Math.min(CH, to - i);
            load(x, i, a, n);
            for (int j = 0; j < n; j++) { float v = Math.max(a[j], 0f); a[j] = v * v; }
            store(a, o, i, n);
        }
    }

    /** dx += dOut·2·relu(x) over [from, to). */
    static void reluSquaredBackward(MemorySegment dx, MemorySegment g, MemorySegment x, long from, long to) {
        float[] a = buf(0), b = buf(1), c = buf(2);
        for (long i = from; i < to; i += CH) {
            int n = (int) Math.min(CH, to - i);
            load(x, i, a, n);
            load(g, i, b, n);
            load(dx, i, c, n);
            for (int j = 0; j < n; j++) c[j] += 2 * Math.max(a[j], 0f) * b[j];
            store(c, dx, i, n);
        }
    }
}
