package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.VectorMath.F;
import static dev.speedrun.kernels.cpu.VectorMath.addScaledInto;
import static dev.speedrun.kernels.cpu.VectorMath.axpy;
import static dev.speedrun.kernels.cpu.VectorMath.dotD;

import java.lang.foreign.MemorySegment;

/**
 * Vector API kernels of the attention family ({@link CpuAttention}): blocked online softmax
 * forward and one-pass backward of one head and query range over float copies of its keys and
 * values. Called only when every tensor of the call is F32 and the incubator module is present
 * ({@link Vectors}); results differ from the scalar double path by float rounding only.
 */
final class AttentionVector {
    private AttentionVector() {}

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
}
