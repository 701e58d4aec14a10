package dev.speedrun.kernels.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API kernels of {@link CpuOps} for tensors that are all F32: they work on float arrays and
 * segments without per-element dtype dispatch. Loaded only when the incubator module is present
 * ({@link CpuGemm#vectorized()}); otherwise CpuOps keeps its scalar double path. Results differ
 * from the double path by float rounding only: products and short sums (≤ head dim) are float,
 * long sums (softmax denominators, losses) and exponentials are double or exact to 1 ulp.
 */
final class FastF32 {
    private FastF32() {}

    static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    static final int FV = FS.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    // ------------------------------------------------------------------ array helpers

    /** Σ a[ao+d]·b[bo+d], d < n. */
    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int d = 0;
        float s = 0;
        if (n >= FV) {
            FloatVector acc = FloatVector.zero(FS);
            for (int ub = FS.loopBound(n); d < ub; d += FV)
                acc = FloatVector.fromArray(FS, a, ao + d).fma(FloatVector.fromArray(FS, b, bo + d), acc);
            s = acc.reduceLanes(VectorOperators.ADD);
        }
        for (; d < n; d++) s += a[ao + d] * b[bo + d];
        return s;
    }

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

    /** y[yo+d] *= alpha, d < n. */
    static void scale(float alpha, float[] y, int yo, int n) {
        int d = 0;
        for (int ub = FS.loopBound(n); d < ub; d += FV)
            FloatVector.fromArray(FS, y, yo + d).mul(alpha).intoArray(y, yo + d);
        for (; d < n; d++) y[yo + d] *= alpha;
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

    private static final int CH = 2048;

    private static float[] buf(int i) { return Scratch.floats(Scratch.TASK + 6 + i, CH); }

    private static void load(MemorySegment s, long i, float[] dst, int n) { MemorySegment.copy(s, F, i * 4, dst, 0, n); }

    private static void store(float[] src, MemorySegment s, long i, int n) { MemorySegment.copy(src, 0, s, F, i * 4, n); }

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

    // ------------------------------------------------------------------ attention

    /** Keys per block of the online softmax. */
    static final int KEY_BLOCK = 64;

    /**
     * Forward attention of queries [p0, p1) of head h. kb/vb hold head h's keys/values of rows
     * [kLo, p1) (row-major, D per row); qv, acc [D] and sc [KEY_BLOCK] are scratch. Writes out
     * rows and lse[h·T + p]; acc [D] is a double accumulator. Online softmax over key blocks: scores of a block are computed, then
     * the running max, sum and accumulator are rescaled once per block.
     */
    static void attentionForward(MemorySegment qs, MemorySegment os, MemorySegment ls, int h, int H, int D, int T,
                                 int p0, int p1, int kLo, int[] docStart, int window, float scale,
                                 float[] kb, float[] vb, float[] qv, double[] acc, double[] sc) {
        for (int p = p0; p < p1; p++) {
            long qo = ((long) p * H + h) * D;
            MemorySegment.copy(qs, F, qo * 4, qv, 0, D);
            int lo = Math.max(docStart[p], p - window);
            double m = Double.NEGATIVE_INFINITY, l = 0;
            java.util.Arrays.fill(acc, 0, D, 0.0);
            for (int j0 = lo; j0 <= p; j0 += KEY_BLOCK) {
                int j1 = Math.min(p + 1, j0 + KEY_BLOCK);
                double bm = Double.NEGATIVE_INFINITY;
                for (int j = j0; j < j1; j++) {
                    double s = scale * dotD(qv, 0, kb, (j - kLo) * D, D);
                    sc[j - j0] = s;
                    if (s > bm) bm = s;
                }
                if (bm > m) {
                    double corr = Math.exp(m - bm); // 0 on the first block
                    l *= corr;
                    for (int d = 0; d < D; d++) acc[d] *= corr;
                    m = bm;
                }
                for (int j = j0; j < j1; j++) {
                    double e = Math.exp(sc[j - j0] - m);
                    l += e;
                    // double accumulator: outputs near zero come from cancelling terms
                    for (int d = 0, ko = (j - kLo) * D; d < D; d++) acc[d] += e * vb[ko + d];
                }
            }
            double inv = 1.0 / l;
            for (int d = 0; d < D; d++) qv[d] = (float) (acc[d] * inv);
            MemorySegment.copy(qv, 0, os, F, qo * 4, D);
            ls.setAtIndex(F, (long) h * T + p, (float) (m + Math.log(l)));
        }
    }

    /**
     * Backward attention of queries [p0, p1) of head h in one pass over their keys: dq rows are
     * accumulated into the dq segment; dk/dv of key rows [kLo, p1) into dkAcc/dvAcc at offset
     * accOff (task-private, (p1−kLo)·D each, zeroed here), which the caller adds up. kb, vb: keys
     * and values of rows [kLo, p1); qv, gv, acc [D] scratch.
     */
    static void attentionBackward(MemorySegment dqs, MemorySegment gs, MemorySegment os, MemorySegment qs, MemorySegment ls,
                                  int h, int H, int D, int T, int p0, int p1, int kLo, int[] docStart, int window, float scale,
                                  float[] kb, float[] vb, float[] dkAcc, float[] dvAcc, int accOff,
                                  float[] qv, float[] gv, float[] ov, float[] acc) {
        java.util.Arrays.fill(dkAcc, accOff, accOff + (p1 - kLo) * D, 0f);
        java.util.Arrays.fill(dvAcc, accOff, accOff + (p1 - kLo) * D, 0f);
        for (int p = p0; p < p1; p++) {
            long qo = ((long) p * H + h) * D;
            MemorySegment.copy(qs, F, qo * 4, qv, 0, D);
            MemorySegment.copy(gs, F, qo * 4, gv, 0, D);
            MemorySegment.copy(os, F, qo * 4, ov, 0, D);
            double delta = dotD(gv, 0, ov, 0, D);
            double lse = ls.getAtIndex(F, (long) h * T + p);
            java.util.Arrays.fill(acc, 0, D, 0f);
            for (int j = Math.max(docStart[p], p - window); j <= p; j++) {
                int ko = (j - kLo) * D;
                double s = scale * dotD(qv, 0, kb, ko, D);
                float pr = (float) Math.exp(s - lse);
                float ds = (float) (pr * (dotD(gv, 0, vb, ko, D) - delta));
                axpy(ds, kb, ko, acc, 0, D);
                axpy(scale * ds, qv, 0, dkAcc, accOff + ko, D);
                axpy(pr, gv, 0, dvAcc, accOff + ko, D);
            }
            addScaledInto(dqs, qo, scale, acc, 0, D);
        }
    }

    // ------------------------------------------------------------------ soft-capped cross-entropy

    /**
     * One row of the soft-capped cross-entropy: fills sg = σ(z/divisor) for the V logits z (zo:
     * element index of the row) and e = exp(cap·sg − max) (so the gradient needs no second
     * exponential), returns the row's log-sum-exp (double sum); stats[0] = max, stats[1] = Σ e.
     */
    static double softcapRow(MemorySegment zs, long zo, int V, float cap, float invDiv, float[] sg, float[] e, double[] stats) {
        MemorySegment.copy(zs, F, zo * 4, sg, 0, V);
        float mx = Float.NEGATIVE_INFINITY;
        for (int c = 0; c < V; c++) {
            float s = (float) (1.0 / (1.0 + Math.exp(-sg[c] * invDiv)));
            sg[c] = s;
            mx = Math.max(mx, cap * s);
        }
        double se = 0;
        for (int c = 0; c < V; c++) {
            float ev = (float) Math.exp(cap * sg[c] - mx);
            e[c] = ev;
            se += ev;
        }
        stats[0] = mx;
        stats[1] = se;
        return mx + Math.log(se);
    }

    /** dz[c] = k·e[c]·sg(1−sg) for the row at element zo of dzs, k = gradScale·coef·cap/div / Σe. */
    static void softcapGrad(MemorySegment dzs, long zo, int V, float k, float[] sg, float[] e) {
        for (int c = 0; c < V; c++) {
            float s = sg[c];
            e[c] = k * e[c] * s * (1 - s);
        }
        MemorySegment.copy(e, 0, dzs, F, zo * 4, V);
    }

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
