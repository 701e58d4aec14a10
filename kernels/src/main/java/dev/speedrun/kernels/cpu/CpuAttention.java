package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.Acc.get;
import static dev.speedrun.kernels.cpu.Acc.set;

import dev.speedrun.kernels.OpContract;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * The attention family of {@link CpuOps} ({@code Ops.attention}, {@code Ops.attentionBackward};
 * attention.cu on the GPU): causal sliding-window attention over packed documents with an online
 * softmax. The scalar path copies each task's rows into double arrays; all-F32 calls go to the
 * blocked {@link AttentionVector} kernels, driven here.
 */
final class CpuAttention {
    private CpuAttention() {}

    /** Queries (or keys) per parallel task of the scalar path. */
    private static final int ATT_CHUNK = 32;

    /**
     * One task's share of the queries: head h, queries [p0, p1), and kLo, the first key any of
     * them attends to (the smallest window start of the chunk), so the task reads key and value
     * rows [kLo, p1). Task t of {@code chunks} per head is chunk {@code t % chunks} of head
     * {@code t / chunks}, chunks {@code len} queries long.
     */
    private record QueryChunk(int task, int h, int p0, int p1, int kLo) {
        static QueryChunk of(int task, int chunks, int len, int T, int[] docStart, int window) {
            int p0 = (task % chunks) * len, p1 = Math.min(T, p0 + len);
            return new QueryChunk(task, task / chunks, p0, p1, (int) Math.max(docStart[p0], (long) p0 - window));
        }

        /** Key (and value) rows the task reads. */
        int keyRows() { return p1 - kLo; }
    }

    /** Number of {@code len}-query chunks per head. */
    private static int chunksPerHead(int T, int len) { return (T + len - 1) / len; }

    /**
     * Runs {@code body} for every (head, chunk of {@code len} queries), in parallel when large; a
     * task costs about len·(window + 1)·D·{@code opsPerScore}.
     */
    private static void forEachQueryChunk(int T, int H, int D, int len, int window, int[] docStart, int opsPerScore,
                                          Consumer<QueryChunk> body) {
        int chunks = chunksPerHead(T, len);
        long work = (long) len * Math.min((long) window + 1, T) * D * opsPerScore;
        Par.forEach(H * chunks, work, task -> body.accept(QueryChunk.of(task, chunks, len, T, docStart, window)));
    }

    /**
     * Checks the contents of cu_seqlens (its shape is {@link OpContract}'s) and fills
     * docStart/docEnd per position (ints slots 0 and 1 of the calling thread).
     */
    private static void documents(String op, Tensor cu, int T, int[] docStart, int[] docEnd) {
        int S = cu.size(0);
        MemorySegment cs = cu.segment();
        if (Acc.getInt(cs, 0) != 0 || Acc.getInt(cs, S - 1) != T)
            throw new IllegalArgumentException(op + ": cuSeqlens " + cu.shape() + " must start at 0 and end at T = " + T
                    + " (got first " + Acc.getInt(cs, 0) + ", last " + Acc.getInt(cs, S - 1) + ")");
        for (int d = 0; d + 1 < S; d++) {
            int a = Acc.getInt(cs, d), b = Acc.getInt(cs, d + 1);
            if (b < a) throw new IllegalArgumentException(op + ": cuSeqlens must be non-decreasing, but cu[" + d + "] = " + a + " > cu[" + (d + 1) + "] = " + b);
            for (int p = a; p < b; p++) { docStart[p] = a; docEnd[p] = b; }
        }
    }

    /** Copies rows [from, to) of head h of a [T,H,D] tensor into dst[(row − from)·D + d]. */
    private static void loadRows(MemorySegment s, DType t, int h, int H, int D, int from, int to, double[] dst) {
        for (int r = from; r < to; r++) {
            long src = ((long) r * H + h) * D;
            int o = (r - from) * D;
            for (int d = 0; d < D; d++) dst[o + d] = get(s, t, src + d);
        }
    }

    /**
     * Each task (head, chunk of queries or keys) first copies the rows it needs into per-thread
     * double arrays, so the O(window·D) inner loops run on plain arrays.
     */
    static void attention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, int window, double scale) {
        OpContract.Thd sz = OpContract.attention(out, lse, q, k, v, cuSeqlens, window);
        String op = "attention";
        int T = sz.T(), H = sz.H(), D = sz.D();
        int[] docStart = Scratch.ints(0, T), docEnd = Scratch.ints(1, T);
        documents(op, cuSeqlens, T, docStart, docEnd);
        MemorySegment os = out.segment(), ls = lse.segment(), qs = q.segment(), ks = k.segment(), vs = v.segment();
        DType od = out.dtype(), ld = lse.dtype(), qd = q.dtype(), kd = k.dtype(), vd = v.dtype();
        if (Vectors.f32(out, lse, q, k, v)) {
            attentionF32(os, ls, qs, ks, vs, T, H, D, docStart, window, (float) scale);
            return;
        }
        forEachQueryChunk(T, H, D, ATT_CHUNK, window, docStart, 2, ch -> {
            int h = ch.h(), p0 = ch.p0(), p1 = ch.p1(), kLo = ch.kLo(), rows = ch.keyRows();
            double[] qv = Scratch.doubles(2, D), acc = Scratch.doubles(3, D);
            double[] kb = Scratch.doubles(4, rows * D), vb = Scratch.doubles(5, rows * D);
            loadRows(ks, kd, h, H, D, kLo, p1, kb);
            loadRows(vs, vd, h, H, D, kLo, p1, vb);
            for (int p = p0; p < p1; p++) {
                long qo = ((long) p * H + h) * D;
                for (int d = 0; d < D; d++) qv[d] = get(qs, qd, qo + d) * scale;
                int lo = (int) Math.max(docStart[p], (long) p - window);
                double m = Double.NEGATIVE_INFINITY, l = 0;
                Arrays.fill(acc, 0, D, 0.0);
                for (int j = lo; j <= p; j++) {
                    int ko = (j - kLo) * D;
                    double s = 0;
                    for (int d = 0; d < D; d++) s += qv[d] * kb[ko + d];
                    if (s > m) {
                        double corr = Math.exp(m - s); // 0 on the first key
                        l *= corr;
                        for (int d = 0; d < D; d++) acc[d] *= corr;
                        m = s;
                    }
                    double e = Math.exp(s - m);
                    l += e;
                    for (int d = 0; d < D; d++) acc[d] += e * vb[ko + d];
                }
                double inv = 1.0 / l;
                for (int d = 0; d < D; d++) set(os, od, qo + d, acc[d] * inv);
                set(ls, ld, (long) h * T + p, m + Math.log(l));
            }
        });
    }

    static void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
                                            Tensor out, Tensor lse, Tensor cuSeqlens, int window, double scale) {
        OpContract.Thd sz = OpContract.attentionBackward(dq, dk, dv, dOut, q, k, v, out, lse, cuSeqlens, window);
        String op = "attentionBackward";
        int T = sz.T(), H = sz.H(), D = sz.D();
        int[] docStart = Scratch.ints(0, T), docEnd = Scratch.ints(1, T);
        documents(op, cuSeqlens, T, docStart, docEnd);
        double[] delta = Scratch.doubles(0, H * T); // Δ[h,p] = dOut·out
        double[] lseAll = Scratch.doubles(1, H * T);
        MemorySegment dqs = dq.segment(), dks = dk.segment(), dvs = dv.segment(), gs = dOut.segment(), os = out.segment(),
                ls = lse.segment(), qs = q.segment(), ks = k.segment(), vs = v.segment();
        DType dqd = dq.dtype(), dkd = dk.dtype(), dvd = dv.dtype(), gd = dOut.dtype(), od = out.dtype(),
                ld = lse.dtype(), qd = q.dtype(), kd = k.dtype(), vd = v.dtype();
        if (Vectors.f32(dq, dk, dv, dOut, q, k, v, out, lse)) {
            attentionBackwardF32(dqs, dks, dvs, gs, qs, ks, vs, os, ls, T, H, D, docStart, window, (float) scale);
            return;
        }
        for (int i = 0; i < H * T; i++) lseAll[i] = get(ls, ld, i);
        // Pass 1, per (head, query chunk): Δ and dq = scale·Σ_j P(dP − Δ) k_j.
        forEachQueryChunk(T, H, D, ATT_CHUNK, window, docStart, 3, ch -> {
            int h = ch.h(), p0 = ch.p0(), p1 = ch.p1(), kLo = ch.kLo(), rows = ch.keyRows();
            double[] gv = Scratch.doubles(2, D), acc = Scratch.doubles(3, D);
            double[] kb = Scratch.doubles(4, rows * D), vb = Scratch.doubles(5, rows * D), qv = Scratch.doubles(6, D);
            loadRows(ks, kd, h, H, D, kLo, p1, kb);
            loadRows(vs, vd, h, H, D, kLo, p1, vb);
            for (int p = p0; p < p1; p++) {
                long qo = ((long) p * H + h) * D;
                double dl = 0;
                for (int d = 0; d < D; d++) {
                    gv[d] = get(gs, gd, qo + d);
                    qv[d] = get(qs, qd, qo + d) * scale;
                    dl += gv[d] * get(os, od, qo + d);
                }
                delta[h * T + p] = dl;
                double lv = lseAll[h * T + p];
                Arrays.fill(acc, 0, D, 0.0);
                for (int j = (int) Math.max(docStart[p], (long) p - window); j <= p; j++) {
                    int ko = (j - kLo) * D;
                    double s = 0, dp = 0;
                    for (int d = 0; d < D; d++) {
                        s += qv[d] * kb[ko + d];
                        dp += gv[d] * vb[ko + d];
                    }
                    double ds = Math.exp(s - lv) * (dp - dl);
                    for (int d = 0; d < D; d++) acc[d] += ds * kb[ko + d];
                }
                for (int d = 0; d < D; d++) Acc.add(dqs, dqd, qo + d, scale * acc[d]);
            }
        });
        // Pass 2, per (head, key chunk): dv_j = Σ_p P dOut_p, dk_j = scale·Σ_p P(dP − Δ) q_p.
        // A key chunk sees the queries of the next window, so it costs what a query chunk does.
        int chunks = chunksPerHead(T, ATT_CHUNK);
        long work = (long) ATT_CHUNK * Math.min((long) window + 1, T) * D * 3;
        Par.forEach(H * chunks, work, task -> {
            int h = task / chunks, c = task % chunks;
            int j0 = c * ATT_CHUNK, j1 = Math.min(T, j0 + ATT_CHUNK);
            int pHi = (int) Math.min(docEnd[j1 - 1] - 1L, (long) j1 - 1 + window); // the largest query of the chunk
            int rows = pHi - j0 + 1;
            double[] kv = Scratch.doubles(2, D), vv = Scratch.doubles(3, D), ak = Scratch.doubles(4, D), av = Scratch.doubles(5, D);
            double[] qb = Scratch.doubles(6, rows * D), gb = Scratch.doubles(7, rows * D);
            loadRows(qs, qd, h, H, D, j0, pHi + 1, qb);
            loadRows(gs, gd, h, H, D, j0, pHi + 1, gb);
            for (int j = j0; j < j1; j++) {
                long ko = ((long) j * H + h) * D;
                for (int d = 0; d < D; d++) {
                    kv[d] = get(ks, kd, ko + d) * scale;
                    vv[d] = get(vs, vd, ko + d);
                }
                Arrays.fill(ak, 0, D, 0.0);
                Arrays.fill(av, 0, D, 0.0);
                int hi = (int) Math.min(docEnd[j] - 1L, (long) j + window);
                for (int p = j; p <= hi; p++) {
                    int qo = (p - j0) * D;
                    double s = 0, dp = 0;
                    for (int d = 0; d < D; d++) {
                        s += qb[qo + d] * kv[d];
                        dp += gb[qo + d] * vv[d];
                    }
                    double pr = Math.exp(s - lseAll[h * T + p]);
                    double ds = pr * (dp - delta[h * T + p]);
                    for (int d = 0; d < D; d++) {
                        av[d] += pr * gb[qo + d];
                        ak[d] += ds * qb[qo + d];
                    }
                }
                for (int d = 0; d < D; d++) {
                    Acc.add(dks, dkd, ko + d, scale * ak[d]);
                    Acc.add(dvs, dvd, ko + d, av[d]);
                }
            }
        });
    }

    /** Queries per task of the F32 attention forward. */
    private static final int ATT_CHUNK_F32 = 64;

    /**
     * F32 forward: per (head, query chunk) task, the chunk's keys and values are copied into
     * float arrays once, then {@link AttentionVector#attentionForward} runs the blocked online softmax.
     */
    private static void attentionF32(MemorySegment os, MemorySegment ls, MemorySegment qs, MemorySegment ks, MemorySegment vs,
                                     int T, int H, int D, int[] docStart, int window, float scale) {
        forEachQueryChunk(T, H, D, ATT_CHUNK_F32, window, docStart, 2, ch -> {
            int h = ch.h(), p0 = ch.p0(), p1 = ch.p1(), kLo = ch.kLo(), rows = ch.keyRows();
            float[] kb = Scratch.floats(Scratch.TASK, rows * D), vb = Scratch.floats(Scratch.TASK + 1, rows * D);
            float[] qv = Scratch.floats(Scratch.TASK + 2, D);
            double[] acc = Scratch.doubles(Scratch.TASK, D);
            double[] sc = Scratch.doubles(Scratch.TASK + 1, AttentionVector.KEY_BLOCK);
            VectorMath.gatherHead(ks, h, H, D, kLo, p1, kb);
            VectorMath.gatherHead(vs, h, H, D, kLo, p1, vb);
            AttentionVector.attentionForward(qs, os, ls, h, H, D, T, p0, p1, kLo, docStart, window, scale, kb, vb, qv, acc, sc);
        });
    }

    /**
     * F32 backward in one pass (flash-attention-2 recomputation): each task (head, query range)
     * computes every score once, accumulates dq of its queries directly and dk/dv of the key rows
     * it touches into task-private float arrays (caller scratch); a second parallel loop over heads
     * adds them into dk and dv in task order, so no row is written by two threads at once.
     */
    private static void attentionBackwardF32(MemorySegment dqs, MemorySegment dks, MemorySegment dvs, MemorySegment gs,
                                             MemorySegment qs, MemorySegment ks, MemorySegment vs, MemorySegment os,
                                             MemorySegment ls, int T, int H, int D, int[] docStart, int window, float scale) {
        int threads = Math.max(1, Runtime.getRuntime().availableProcessors());
        // Enough query ranges for the threads, but ranges long compared with the window so the
        // task-private key rows (range + window) are not mostly overlap.
        int splits = (int) Math.max(1, Math.min((T + ATT_CHUNK_F32 - 1) / ATT_CHUNK_F32, (4L * threads + H - 1) / H));
        int range = (T + splits - 1) / splits;
        splits = (T + range - 1) / range;
        int nTasks = H * splits;
        int[] off = Scratch.ints(1, nTasks + 1); // caller slot 1 held docEnd, which this path does not use
        // offsets of each task's accumulator rows
        off[0] = 0;
        for (int t = 0; t < nTasks; t++) off[t + 1] = off[t] + QueryChunk.of(t, splits, range, T, docStart, window).keyRows() * D;
        float[] dkAcc = Scratch.floats(0, off[nTasks]), dvAcc = Scratch.floats(1, off[nTasks]);
        int finalSplits = splits;
        forEachQueryChunk(T, H, D, range, window, docStart, 5, ch -> {
            int h = ch.h(), p0 = ch.p0(), p1 = ch.p1(), kLo = ch.kLo(), rows = ch.keyRows();
            float[] kb = Scratch.floats(Scratch.TASK, rows * D), vb = Scratch.floats(Scratch.TASK + 1, rows * D);
            float[] qv = Scratch.floats(Scratch.TASK + 2, D), gv = Scratch.floats(Scratch.TASK + 3, D);
            float[] ov = Scratch.floats(Scratch.TASK + 4, D), acc = Scratch.floats(Scratch.TASK + 5, D);
            VectorMath.gatherHead(ks, h, H, D, kLo, p1, kb);
            VectorMath.gatherHead(vs, h, H, D, kLo, p1, vb);
            AttentionVector.attentionBackward(dqs, gs, os, qs, ls, h, H, D, T, p0, p1, kLo, docStart, window, scale,
                    kb, vb, dkAcc, dvAcc, off[ch.task()], qv, gv, ov, acc);
        });
        Par.forEach(H, (long) (off[nTasks] / H) * 2, h -> {
            for (int c = 0; c < finalSplits; c++) {
                int task = h * finalSplits + c;
                QueryChunk ch = QueryChunk.of(task, finalSplits, range, T, docStart, window);
                int p1 = ch.p1(), kLo = ch.kLo();
                for (int j = kLo; j < p1; j++) {
                    long ko = ((long) j * H + h) * D;
                    int ao = off[task] + (j - kLo) * D;
                    VectorMath.addInto(dks, ko, dkAcc, ao, D);
                    VectorMath.addInto(dvs, ko, dvAcc, ao, D);
                }
            }
        });
    }

}
