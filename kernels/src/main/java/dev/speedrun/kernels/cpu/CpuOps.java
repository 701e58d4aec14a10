package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.Acc.get;
import static dev.speedrun.kernels.cpu.Acc.set;

import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The reference backend of {@link Ops}: pure Java over host {@link MemorySegment}s. Floating
 * tensors may be F64, F32 or BF16 (read as double, stored with round-to-nearest-even); every
 * reduction and every intermediate is a double. Large loops run on the common fork-join pool;
 * per-thread scratch arrays keep the hot ops free of per-call allocations beyond a few small
 * objects (segment views, lambdas).
 */
public final class CpuOps implements Ops {
    /** Elements per parallel block of elementwise ops. */
    private static final int BLOCK = 1 << 14;
    /** Queries (or keys) per parallel attention task. */
    private static final int ATT_CHUNK = 32;

    private final Backend backend;

    public CpuOps(Backend backend) { this.backend = backend; }

    @Override public Backend backend() { return backend; }

    // ================================================================== validation

    private static void requireFloat(String op, String name, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " must not be null");
        DType d = t.dtype();
        if (d != DType.F64 && d != DType.F32 && d != DType.BF16)
            throw new IllegalArgumentException(op + ": " + name + " must be F64, F32 or BF16, got " + d + " " + t.shape());
    }

    private static void requireI32(String op, String name, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " must not be null");
        if (t.dtype() != DType.I32)
            throw new IllegalArgumentException(op + ": " + name + " must be I32, got " + t.dtype() + " " + t.shape());
    }

    private static void requireNumel(String op, String name, Tensor t, long n) {
        if (t.numel() != n)
            throw new IllegalArgumentException(op + ": " + name + " must have " + n + " elements, got shape " + t.shape());
    }

    private static void requireShape(String op, String name, Tensor t, long... dims) {
        long[] have = t.shape().dims();
        if (!Arrays.equals(have, dims))
            throw new IllegalArgumentException(op + ": " + name + " must be " + Arrays.toString(dims) + ", got " + t.shape());
    }

    private static void requireRank(String op, String name, Tensor t, int rank, String what) {
        if (t.rank() != rank)
            throw new IllegalArgumentException(op + ": " + name + " must be " + what + ", got " + t.shape());
    }

    /** A float tensor with exactly one element (scalar coefficient), or null. */
    private static void requireScalarOrNull(String op, String name, Tensor t) {
        if (t == null) return;
        requireFloat(op, name, t);
        requireNumel(op, name, t, 1);
    }

    private static double scalarOr1(Tensor t) { return t == null ? 1.0 : get(t.segment(), t.dtype(), 0); }

    /** Runs {@code body(from, to)} over [0, n) in blocks, in parallel when n·cost is large. */
    private interface Range { void run(long from, long to); }

    private static void blocks(long n, int costPerElement, Range body) {
        int nb = Math.toIntExact((n + BLOCK - 1) / BLOCK);
        Par.forEach(nb, (long) BLOCK * costPerElement, b -> {
            long from = (long) b * BLOCK;
            body.run(from, Math.min(n, from + BLOCK));
        });
    }

    private static double sigmoid(double x) { return 1.0 / (1.0 + Math.exp(-x)); }

    // ================================================================== elementwise helpers

    @Override public void fill(Tensor out, double value) {
        if (out.dtype() == DType.I32) {
            MemorySegment s = out.segment();
            int iv = (int) value;
            if (iv != value) throw new IllegalArgumentException("fill: value " + value + " is not an int for I32 tensor " + out.shape());
            for (long i = 0, n = out.numel(); i < n; i++) s.setAtIndex(Acc.I, i, iv);
            return;
        }
        requireFloat("fill", "out", out);
        MemorySegment s = out.segment();
        DType d = out.dtype();
        double stored = Acc.round(d, value);
        blocks(out.numel(), 1, (from, to) -> { for (long i = from; i < to; i++) set(s, d, i, stored); });
    }

    @Override public void convert(Tensor out, Tensor x) {
        requireFloat("convert", "out", out);
        requireFloat("convert", "x", x);
        requireNumel("convert", "x", x, out.numel());
        MemorySegment os = out.segment(), xs = x.segment();
        DType od = out.dtype(), xd = x.dtype();
        blocks(out.numel(), 1, (from, to) -> { for (long i = from; i < to; i++) set(os, od, i, get(xs, xd, i)); });
    }

    @Override public void add(Tensor out, Tensor x, Tensor y) {
        requireFloat("add", "out", out);
        requireFloat("add", "x", x);
        requireFloat("add", "y", y);
        requireNumel("add", "x", x, out.numel());
        requireNumel("add", "y", y, out.numel());
        MemorySegment os = out.segment(), xs = x.segment(), ys = y.segment();
        DType od = out.dtype(), xd = x.dtype(), yd = y.dtype();
        blocks(out.numel(), 1, (from, to) -> {
            for (long i = from; i < to; i++) set(os, od, i, get(xs, xd, i) + get(ys, yd, i));
        });
    }

    @Override public void mix(Tensor out, Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb) {
        requireFloat("mix", "out", out);
        requireFloat("mix", "x", x);
        requireNumel("mix", "x", x, out.numel());
        requireScalarOrNull("mix", "a", a);
        requireScalarOrNull("mix", "b", b);
        if (y != null) {
            requireFloat("mix", "y", y);
            requireNumel("mix", "y", y, out.numel());
        }
        double fa = ca * scalarOr1(a);
        double fb = cb * scalarOr1(b);
        MemorySegment os = out.segment(), xs = x.segment(), ys = y == null ? null : y.segment();
        DType od = out.dtype(), xd = x.dtype(), yd = y == null ? null : y.dtype();
        blocks(out.numel(), 2, (from, to) -> {
            for (long i = from; i < to; i++) {
                double v = fa * get(xs, xd, i);
                if (ys != null) v += fb * get(ys, yd, i);
                set(os, od, i, v);
            }
        });
    }

    @Override public void mixBackward(Tensor dx, Tensor dy, Tensor da, Tensor db, Tensor dOut,
                                      Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb) {
        String op = "mixBackward";
        requireFloat(op, "dOut", dOut);
        long n = dOut.numel();
        if (dx != null) { requireFloat(op, "dx", dx); requireNumel(op, "dx", dx, n); }
        if (dy != null) { requireFloat(op, "dy", dy); requireNumel(op, "dy", dy, n); }
        requireScalarOrNull(op, "a", a);
        requireScalarOrNull(op, "b", b);
        requireScalarOrNull(op, "da", da);
        requireScalarOrNull(op, "db", db);
        if (da != null && a == null) throw new IllegalArgumentException(op + ": da given but a is null (a constant coefficient has no gradient)");
        if (db != null && b == null) throw new IllegalArgumentException(op + ": db given but b is null (a constant coefficient has no gradient)");
        if (da != null) { requireFloat(op, "x", x); requireNumel(op, "x", x, n); }
        if (db != null) {
            if (y == null) throw new IllegalArgumentException(op + ": db given but y is null");
            requireFloat(op, "y", y);
            requireNumel(op, "y", y, n);
        }
        if (dy != null && y == null) throw new IllegalArgumentException(op + ": dy given but y is null (the forward had no second term)");
        double fa = ca * scalarOr1(a), fb = cb * scalarOr1(b);
        MemorySegment gs = dOut.segment();
        DType gd = dOut.dtype();
        MemorySegment dxs = dx == null ? null : dx.segment(), dys = dy == null ? null : dy.segment();
        DType dxd = dx == null ? null : dx.dtype(), dyd = dy == null ? null : dy.dtype();
        MemorySegment xs = da == null ? null : x.segment(), ys = db == null ? null : y.segment();
        DType xd = da == null ? null : x.dtype(), yd = db == null ? null : y.dtype();
        // Sums must not race: blocks compute partial sums into scratch owned by the caller.
        int nb = Math.toIntExact((n + BLOCK - 1) / BLOCK);
        double[] partA = Scratch.doubles(0, nb), partB = Scratch.doubles(1, nb);
        Par.forEach(nb, (long) BLOCK * 4, blk -> {
            long from = (long) blk * BLOCK, to = Math.min(n, from + BLOCK);
            double sa = 0, sb = 0;
            for (long i = from; i < to; i++) {
                double g = get(gs, gd, i);
                // read every input before writing, so dx/dy may alias dOut
                if (xs != null) sa += g * get(xs, xd, i);
                if (ys != null) sb += g * get(ys, yd, i);
                if (dxs != null) Acc.add(dxs, dxd, i, fa * g);
                if (dys != null) Acc.add(dys, dyd, i, fb * g);
            }
            partA[blk] = sa;
            partB[blk] = sb;
        });
        if (da != null) {
            double s = 0;
            for (int i = 0; i < nb; i++) s += partA[i];
            Acc.add(da.segment(), da.dtype(), 0, ca * s);
        }
        if (db != null) {
            double s = 0;
            for (int i = 0; i < nb; i++) s += partB[i];
            Acc.add(db.segment(), db.dtype(), 0, cb * s);
        }
    }

    @Override public void sigmoid(Tensor out, Tensor x) {
        requireFloat("sigmoid", "out", out);
        requireFloat("sigmoid", "x", x);
        requireNumel("sigmoid", "x", x, out.numel());
        MemorySegment os = out.segment(), xs = x.segment();
        DType od = out.dtype(), xd = x.dtype();
        blocks(out.numel(), 8, (from, to) -> { for (long i = from; i < to; i++) set(os, od, i, sigmoid(get(xs, xd, i))); });
    }

    @Override public void sigmoidBackward(Tensor dx, Tensor dOut, Tensor y) {
        requireFloat("sigmoidBackward", "dx", dx);
        requireFloat("sigmoidBackward", "dOut", dOut);
        requireFloat("sigmoidBackward", "y", y);
        requireNumel("sigmoidBackward", "dOut", dOut, dx.numel());
        requireNumel("sigmoidBackward", "y", y, dx.numel());
        MemorySegment ds = dx.segment(), gs = dOut.segment(), ys = y.segment();
        DType dd = dx.dtype(), gd = dOut.dtype(), yd = y.dtype();
        blocks(dx.numel(), 2, (from, to) -> {
            for (long i = from; i < to; i++) {
                double yv = get(ys, yd, i), g = get(gs, gd, i);
                Acc.add(ds, dd, i, g * yv * (1 - yv));
            }
        });
    }

    @Override public void reluSquared(Tensor out, Tensor x) {
        requireFloat("reluSquared", "out", out);
        requireFloat("reluSquared", "x", x);
        requireNumel("reluSquared", "x", x, out.numel());
        MemorySegment os = out.segment(), xs = x.segment();
        DType od = out.dtype(), xd = x.dtype();
        blocks(out.numel(), 1, (from, to) -> {
            for (long i = from; i < to; i++) {
                double v = get(xs, xd, i);
                double r = v > 0 ? v : 0;
                set(os, od, i, r * r);
            }
        });
    }

    @Override public void reluSquaredBackward(Tensor dx, Tensor dOut, Tensor x) {
        requireFloat("reluSquaredBackward", "dx", dx);
        requireFloat("reluSquaredBackward", "dOut", dOut);
        requireFloat("reluSquaredBackward", "x", x);
        requireNumel("reluSquaredBackward", "dOut", dOut, dx.numel());
        requireNumel("reluSquaredBackward", "x", x, dx.numel());
        MemorySegment ds = dx.segment(), gs = dOut.segment(), xs = x.segment();
        DType dd = dx.dtype(), gd = dOut.dtype(), xd = x.dtype();
        blocks(dx.numel(), 2, (from, to) -> {
            for (long i = from; i < to; i++) {
                double v = get(xs, xd, i), g = get(gs, gd, i);
                if (v > 0) Acc.add(ds, dd, i, 2 * v * g);
            }
        });
    }

    @Override public void sum(Tensor out, Tensor x, boolean accumulate) { reduce("sum", out, x, accumulate, false); }

    @Override public void sumSquares(Tensor out, Tensor x, boolean accumulate) { reduce("sumSquares", out, x, accumulate, true); }

    private static void reduce(String op, Tensor out, Tensor x, boolean accumulate, boolean squares) {
        requireFloat(op, "out", out);
        requireNumel(op, "out", out, 1);
        requireFloat(op, "x", x);
        long n = x.numel();
        MemorySegment xs = x.segment();
        DType xd = x.dtype();
        int nb = Math.toIntExact((n + BLOCK - 1) / BLOCK);
        double[] part = Scratch.doubles(0, nb);
        Par.forEach(nb, BLOCK, blk -> {
            long from = (long) blk * BLOCK, to = Math.min(n, from + BLOCK);
            double s = 0;
            for (long i = from; i < to; i++) {
                double v = get(xs, xd, i);
                s += squares ? v * v : v;
            }
            part[blk] = s;
        });
        double s = 0;
        for (int i = 0; i < nb; i++) s += part[i];
        MemorySegment os = out.segment();
        if (accumulate) s += get(os, out.dtype(), 0);
        set(os, out.dtype(), 0, s);
    }

    @Override public void tokenMask(Tensor out, Tensor tokens, int value, double ifEqual, double otherwise) {
        requireFloat("tokenMask", "out", out);
        requireI32("tokenMask", "tokens", tokens);
        requireNumel("tokenMask", "tokens", tokens, out.numel());
        MemorySegment os = out.segment(), ts = tokens.segment();
        DType od = out.dtype();
        for (long i = 0, n = out.numel(); i < n; i++) set(os, od, i, Acc.getInt(ts, i) == value ? ifEqual : otherwise);
    }

    // ================================================================== GEMM

    @Override public void matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta) {
        CpuGemm.matmul(out, a, b, transA, transB, alpha, beta);
    }

    // ================================================================== embedding

    /** Validates token ids against the table rows, naming the first bad one. */
    private static void checkTokens(String op, Tensor tokens, int vocab) {
        MemorySegment ts = tokens.segment();
        for (long t = 0, n = tokens.numel(); t < n; t++) {
            int id = Acc.getInt(ts, t);
            if (id < 0 || id >= vocab)
                throw new IllegalArgumentException(op + ": token id " + id + " at position " + t + " outside [0, " + vocab + ")");
        }
    }

    @Override public void embedding(Tensor out, Tensor table, Tensor tokens) {
        String op = "embedding";
        requireFloat(op, "out", out);
        requireFloat(op, "table", table);
        requireI32(op, "tokens", tokens);
        requireRank(op, "table", table, 2, "[V,C]");
        int V = table.size(0), C = table.size(1), T = Math.toIntExact(tokens.numel());
        requireShape(op, "out", out, T, C);
        checkTokens(op, tokens, V);
        MemorySegment os = out.segment(), es = table.segment(), ts = tokens.segment();
        DType od = out.dtype(), ed = table.dtype();
        Par.forEach(T, C, t -> {
            long src = (long) Acc.getInt(ts, t) * C, dst = (long) t * C;
            for (int c = 0; c < C; c++) set(os, od, dst + c, get(es, ed, src + c));
        });
    }

    @Override public void embeddingBackward(Tensor dTable, Tensor dOut, Tensor tokens) {
        String op = "embeddingBackward";
        requireFloat(op, "dTable", dTable);
        requireFloat(op, "dOut", dOut);
        requireI32(op, "tokens", tokens);
        requireRank(op, "dTable", dTable, 2, "[V,C]");
        int V = dTable.size(0), C = dTable.size(1), T = Math.toIntExact(tokens.numel());
        requireShape(op, "dOut", dOut, T, C);
        checkTokens(op, tokens, V);
        MemorySegment ds = dTable.segment(), gs = dOut.segment(), ts = tokens.segment();
        DType dd = dTable.dtype(), gd = dOut.dtype();
        // Parallel over column blocks: repeated tokens then never race.
        int cb = 64, nb = (C + cb - 1) / cb;
        Par.forEach(nb, (long) T * cb, blk -> {
            int c0 = blk * cb, c1 = Math.min(C, c0 + cb);
            for (int t = 0; t < T; t++) {
                long dst = (long) Acc.getInt(ts, t) * C, src = (long) t * C;
                for (int c = c0; c < c1; c++) Acc.add(ds, dd, dst + c, get(gs, gd, src + c));
            }
        });
    }

    // ================================================================== normalisation

    @Override public void rmsNorm(Tensor out, Tensor rrms, Tensor x) {
        String op = "rmsNorm";
        requireFloat(op, "out", out);
        requireFloat(op, "rrms", rrms);
        requireFloat(op, "x", x);
        if (x.rank() < 1) throw new IllegalArgumentException(op + ": x must be [R,C], got " + x.shape());
        int C = x.size(-1);
        long R = C == 0 ? 0 : x.numel() / C;
        requireNumel(op, "out", out, x.numel());
        requireNumel(op, "rrms", rrms, R);
        double eps = out.dtype().epsilon();
        MemorySegment os = out.segment(), rs = rrms.segment(), xs = x.segment();
        DType od = out.dtype(), rd = rrms.dtype(), xd = x.dtype();
        Par.forEach(Math.toIntExact(R), 2L * C, r -> {
            long off = (long) r * C;
            double ss = 0;
            for (int c = 0; c < C; c++) { double v = get(xs, xd, off + c); ss += v * v; }
            double inv = 1.0 / Math.sqrt(ss / C + eps);
            for (int c = 0; c < C; c++) set(os, od, off + c, get(xs, xd, off + c) * inv);
            set(rs, rd, r, inv);
        });
    }

    @Override public void rmsNormBackward(Tensor dx, Tensor dOut, Tensor x, Tensor rrms) {
        String op = "rmsNormBackward";
        requireFloat(op, "dx", dx);
        requireFloat(op, "dOut", dOut);
        requireFloat(op, "x", x);
        requireFloat(op, "rrms", rrms);
        if (x.rank() < 1) throw new IllegalArgumentException(op + ": x must be [R,C], got " + x.shape());
        int C = x.size(-1);
        long R = C == 0 ? 0 : x.numel() / C;
        requireNumel(op, "dx", dx, x.numel());
        requireNumel(op, "dOut", dOut, x.numel());
        requireNumel(op, "rrms", rrms, R);
        MemorySegment ds = dx.segment(), gs = dOut.segment(), xs = x.segment(), rs = rrms.segment();
        DType dd = dx.dtype(), gd = dOut.dtype(), xd = x.dtype(), rd = rrms.dtype();
        Par.forEach(Math.toIntExact(R), 3L * C, r -> {
            long off = (long) r * C;
            double inv = get(rs, rd, r);
            double dot = 0;
            for (int c = 0; c < C; c++) dot += get(gs, gd, off + c) * get(xs, xd, off + c) * inv;
            double mean = dot / C;
            for (int c = 0; c < C; c++) {
                double y = get(xs, xd, off + c) * inv;
                Acc.add(ds, dd, off + c, inv * (get(gs, gd, off + c) - y * mean));
            }
        });
    }

    // ================================================================== rotary and key shift

    private static void checkTHD(String op, String name, Tensor t) {
        requireFloat(op, name, t);
        requireRank(op, name, t, 3, "[T,H,D]");
    }

    @Override public void rotary(Tensor out, Tensor x, Tensor freqs) { rotate("rotary", out, x, freqs, false); }

    @Override public void rotaryBackward(Tensor dx, Tensor dOut, Tensor freqs) { rotate("rotaryBackward", dx, dOut, freqs, true); }

    /** Forward (overwrite, rotation by +θ) or backward (accumulate, rotation by −θ). */
    private static void rotate(String op, Tensor out, Tensor x, Tensor freqs, boolean backward) {
        checkTHD(op, backward ? "dOut" : "x", x);
        requireFloat(op, backward ? "dx" : "out", out);
        requireShape(op, backward ? "dx" : "out", out, x.shape().dims());
        requireFloat(op, "freqs", freqs);
        int T = x.size(0), H = x.size(1), D = x.size(2);
        if (D % 2 != 0) throw new IllegalArgumentException(op + ": head dim D must be even, got " + x.shape());
        int half = D / 2;
        requireNumel(op, "freqs", freqs, half);
        MemorySegment os = out.segment(), xs = x.segment(), fs = freqs.segment();
        DType od = out.dtype(), xd = x.dtype(), fd = freqs.dtype();
        Par.forEach(T, (long) H * D * 2, p -> {
            double[] cs = Scratch.doubles(Scratch.TASK, D);
            for (int j = 0; j < half; j++) {
                double th = p * get(fs, fd, j);
                cs[j] = Math.cos(th);
                cs[half + j] = Math.sin(th);
            }
            for (int h = 0; h < H; h++) {
                long base = ((long) p * H + h) * D;
                for (int j = 0; j < half; j++) {
                    double c = cs[j], s = cs[half + j];
                    double u = get(xs, xd, base + j), w = get(xs, xd, base + half + j);
                    if (!backward) {
                        set(os, od, base + j, u * c + w * s);
                        set(os, od, base + half + j, -u * s + w * c);
                    } else {
                        Acc.add(os, od, base + j, u * c - w * s);
                        Acc.add(os, od, base + half + j, u * s + w * c);
                    }
                }
            }
        });
    }

    private static boolean shifted(int d, int D) {
        int q = D / 4, h = D / 2;
        return (d >= q && d < h) || d >= h + q;
    }

    @Override public void keyShift(Tensor out, Tensor x) {
        String op = "keyShift";
        checkTHD(op, "x", x);
        requireFloat(op, "out", out);
        requireShape(op, "out", out, x.shape().dims());
        int T = x.size(0), H = x.size(1), D = x.size(2);
        if (D % 4 != 0) throw new IllegalArgumentException(op + ": head dim D must be a multiple of 4, got " + x.shape());
        if (x.sameStorage(out) && overlaps(x, out)) throw new IllegalArgumentException(op + ": out must not alias x");
        MemorySegment os = out.segment(), xs = x.segment();
        DType od = out.dtype(), xd = x.dtype();
        long row = (long) H * D;
        Par.forEach(T, row, p -> {
            for (int h = 0; h < H; h++) {
                long base = p * row + (long) h * D;
                for (int d = 0; d < D; d++) {
                    long src = (p >= 1 && shifted(d, D)) ? base - row + d : base + d;
                    set(os, od, base + d, get(xs, xd, src));
                }
            }
        });
    }

    @Override public void keyShiftBackward(Tensor dx, Tensor dOut) {
        String op = "keyShiftBackward";
        checkTHD(op, "dOut", dOut);
        requireFloat(op, "dx", dx);
        requireShape(op, "dx", dx, dOut.shape().dims());
        int T = dOut.size(0), H = dOut.size(1), D = dOut.size(2);
        if (D % 4 != 0) throw new IllegalArgumentException(op + ": head dim D must be a multiple of 4, got " + dOut.shape());
        MemorySegment ds = dx.segment(), gs = dOut.segment();
        DType dd = dx.dtype(), gd = dOut.dtype();
        long row = (long) H * D;
        // Gather form: row q receives its own unshifted dims, and for shifted dims the gradient
        // of row q+1 (plus its own at q = 0), so rows never race.
        Par.forEach(T, row, q -> {
            for (int h = 0; h < H; h++) {
                long base = q * row + (long) h * D;
                for (int d = 0; d < D; d++) {
                    double g;
                    if (!shifted(d, D)) g = get(gs, gd, base + d);
                    else {
                        g = q == 0 ? get(gs, gd, base + d) : 0;
                        if (q + 1 < T) g += get(gs, gd, base + row + d);
                    }
                    Acc.add(ds, dd, base + d, g);
                }
            }
        });
    }

    private static boolean overlaps(Tensor a, Tensor b) {
        long a0 = a.byteOffset(), a1 = a0 + a.byteSize(), b0 = b.byteOffset(), b1 = b0 + b.byteSize();
        return a0 < b1 && b0 < a1;
    }

    // ================================================================== attention

    /**
     * Validates cu_seqlens and fills docStart/docEnd per position (ints slots 0 and 1 of the
     * calling thread).
     */
    private static void documents(String op, Tensor cu, int T, int[] docStart, int[] docEnd) {
        requireI32(op, "cuSeqlens", cu);
        requireRank(op, "cuSeqlens", cu, 1, "[S]");
        int S = cu.size(0);
        MemorySegment cs = cu.segment();
        if (S < 1 || Acc.getInt(cs, 0) != 0 || Acc.getInt(cs, S - 1) != T)
            throw new IllegalArgumentException(op + ": cuSeqlens " + cu.shape() + " must start at 0 and end at T = " + T
                    + (S >= 1 ? " (got first " + Acc.getInt(cs, 0) + ", last " + Acc.getInt(cs, S - 1) + ")" : ""));
        for (int d = 0; d + 1 < S; d++) {
            int a = Acc.getInt(cs, d), b = Acc.getInt(cs, d + 1);
            if (b < a) throw new IllegalArgumentException(op + ": cuSeqlens must be non-decreasing, but cu[" + d + "] = " + a + " > cu[" + (d + 1) + "] = " + b);
            for (int p = a; p < b; p++) { docStart[p] = a; docEnd[p] = b; }
        }
    }

    private static void checkAttentionShapes(String op, Tensor q, Tensor k, Tensor v, Tensor lse, int window) {
        checkTHD(op, "q", q);
        requireFloat(op, "k", k);
        requireFloat(op, "v", v);
        requireShape(op, "k", k, q.shape().dims());
        requireShape(op, "v", v, q.shape().dims());
        requireFloat(op, "lse", lse);
        requireShape(op, "lse", lse, q.dim(1), q.dim(0));
        if (window < 0) throw new IllegalArgumentException(op + ": window must be ≥ 0, got " + window);
    }

    private static double dot(MemorySegment as, DType ad, long ao, MemorySegment bs, DType bd, long bo, int D) {
        double s = 0;
        for (int d = 0; d < D; d++) s += get(as, ad, ao + d) * get(bs, bd, bo + d);
        return s;
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
    @Override public void attention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, int window, double scale) {
        String op = "attention";
        checkAttentionShapes(op, q, k, v, lse, window);
        requireFloat(op, "out", out);
        requireShape(op, "out", out, q.shape().dims());
        int T = q.size(0), H = q.size(1), D = q.size(2);
        int[] docStart = Scratch.ints(0, T), docEnd = Scratch.ints(1, T);
        documents(op, cuSeqlens, T, docStart, docEnd);
        MemorySegment os = out.segment(), ls = lse.segment(), qs = q.segment(), ks = k.segment(), vs = v.segment();
        DType od = out.dtype(), ld = lse.dtype(), qd = q.dtype(), kd = k.dtype(), vd = v.dtype();
        int chunks = (T + ATT_CHUNK - 1) / ATT_CHUNK;
        long work = (long) ATT_CHUNK * Math.min((long) window + 1, T) * D * 2;
        Par.forEach(H * chunks, work, task -> {
            int h = task / chunks, c = task % chunks;
            int p0 = c * ATT_CHUNK, p1 = Math.min(T, p0 + ATT_CHUNK);
            int kLo = (int) Math.max(docStart[p0], (long) p0 - window); // the smallest lo of the chunk
            int rows = p1 - kLo;
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

    @Override public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
                                            Tensor out, Tensor lse, Tensor cuSeqlens, int window, double scale) {
        String op = "attentionBackward";
        checkAttentionShapes(op, q, k, v, lse, window);
        long[] thd = q.shape().dims();
        for (String name : new String[] {"dq", "dk", "dv", "dOut", "out"}) {
            Tensor t = switch (name) { case "dq" -> dq; case "dk" -> dk; case "dv" -> dv; case "dOut" -> dOut; default -> out; };
            requireFloat(op, name, t);
            requireShape(op, name, t, thd);
        }
        int T = q.size(0), H = q.size(1), D = q.size(2);
        int[] docStart = Scratch.ints(0, T), docEnd = Scratch.ints(1, T);
        documents(op, cuSeqlens, T, docStart, docEnd);
        double[] delta = Scratch.doubles(0, H * T); // Δ[h,p] = dOut·out
        double[] lseAll = Scratch.doubles(1, H * T);
        MemorySegment dqs = dq.segment(), dks = dk.segment(), dvs = dv.segment(), gs = dOut.segment(), os = out.segment(),
                ls = lse.segment(), qs = q.segment(), ks = k.segment(), vs = v.segment();
        DType dqd = dq.dtype(), dkd = dk.dtype(), dvd = dv.dtype(), gd = dOut.dtype(), od = out.dtype(),
                ld = lse.dtype(), qd = q.dtype(), kd = k.dtype(), vd = v.dtype();
        for (int i = 0; i < H * T; i++) lseAll[i] = get(ls, ld, i);
        int chunks = (T + ATT_CHUNK - 1) / ATT_CHUNK;
        long work = (long) ATT_CHUNK * Math.min((long) window + 1, T) * D * 3;
        // Pass 1, per (head, query chunk): Δ and dq = scale·Σ_j P(dP − Δ) k_j.
        Par.forEach(H * chunks, work, task -> {
            int h = task / chunks, c = task % chunks;
            int p0 = c * ATT_CHUNK, p1 = Math.min(T, p0 + ATT_CHUNK);
            int kLo = (int) Math.max(docStart[p0], (long) p0 - window);
            int rows = p1 - kLo;
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

    // ================================================================== gates

    @Override public void headGate(Tensor out, Tensor gate, Tensor y, Tensor x, Tensor w) {
        String op = "headGate";
        checkTHD(op, "y", y);
        requireFloat(op, "out", out);
        requireShape(op, "out", out, y.shape().dims());
        int T = y.size(0), H = y.size(1), D = y.size(2);
        requireFloat(op, "gate", gate);
        requireShape(op, "gate", gate, T, H);
        requireFloat(op, "w", w);
        requireRank(op, "w", w, 2, "[H,G]");
        int G = w.size(1);
        if (w.size(0) != H) throw new IllegalArgumentException(op + ": w must be [H,G] with H = " + H + ", got " + w.shape());
        requireFloat(op, "x", x);
        requireRank(op, "x", x, 2, "[T,C]");
        if (x.size(0) != T || x.size(1) < G)
            throw new IllegalArgumentException(op + ": x must be [T,C] with T = " + T + " and C ≥ G = " + G + ", got " + x.shape());
        int C = x.size(1);
        MemorySegment os = out.segment(), gs = gate.segment(), ys = y.segment(), xs = x.segment(), ws = w.segment();
        DType od = out.dtype(), gd = gate.dtype(), yd = y.dtype(), xd = x.dtype(), wd = w.dtype();
        Par.forEach(T, (long) H * (G + D), t -> {
            for (int h = 0; h < H; h++) {
                double g = sigmoid(dot(xs, xd, (long) t * C, ws, wd, (long) h * G, G));
                set(gs, gd, (long) t * H + h, g);
                long base = ((long) t * H + h) * D;
                for (int d = 0; d < D; d++) set(os, od, base + d, get(ys, yd, base + d) * g);
            }
        });
    }

    @Override public void headGateBackward(Tensor dy, Tensor dx, Tensor dw, Tensor dOut, Tensor y, Tensor x, Tensor w, Tensor gate) {
        String op = "headGateBackward";
        checkTHD(op, "y", y);
        int T = y.size(0), H = y.size(1), D = y.size(2);
        for (String name : new String[] {"dy", "dOut"}) {
            Tensor t = name.equals("dy") ? dy : dOut;
            requireFloat(op, name, t);
            requireShape(op, name, t, y.shape().dims());
        }
        requireFloat(op, "gate", gate);
        requireShape(op, "gate", gate, T, H);
        requireFloat(op, "w", w);
        requireRank(op, "w", w, 2, "[H,G]");
        int G = w.size(1);
        if (w.size(0) != H) throw new IllegalArgumentException(op + ": w must be [H,G] with H = " + H + ", got " + w.shape());
        requireFloat(op, "dw", dw);
        requireShape(op, "dw", dw, H, G);
        requireFloat(op, "x", x);
        requireRank(op, "x", x, 2, "[T,C]");
        if (x.size(0) != T || x.size(1) < G)
            throw new IllegalArgumentException(op + ": x must be [T,C] with T = " + T + " and C ≥ G = " + G + ", got " + x.shape());
        int C = x.size(1);
        requireFloat(op, "dx", dx);
        requireShape(op, "dx", dx, T, C);
        MemorySegment dys = dy.segment(), dxs = dx.segment(), dws = dw.segment(), gs = dOut.segment(), ys = y.segment(),
                xs = x.segment(), ws = w.segment(), gts = gate.segment();
        DType dyd = dy.dtype(), dxd = dx.dtype(), dwd = dw.dtype(), gd = dOut.dtype(), yd = y.dtype(),
                xd = x.dtype(), wd = w.dtype(), gtd = gate.dtype();
        double[] gp = Scratch.doubles(0, T * H); // g'[t,h]
        Par.forEach(T, (long) H * (D + G), t -> {
            for (int h = 0; h < H; h++) {
                long base = ((long) t * H + h) * D;
                double g = get(gts, gtd, (long) t * H + h);
                double s = 0;
                for (int d = 0; d < D; d++) {
                    double go = get(gs, gd, base + d);
                    s += go * get(ys, yd, base + d);
                    Acc.add(dys, dyd, base + d, go * g);
                }
                double gpv = s * g * (1 - g);
                gp[t * H + h] = gpv;
                for (int i = 0; i < G; i++) Acc.add(dxs, dxd, (long) t * C + i, gpv * get(ws, wd, (long) h * G + i));
            }
        });
        // dw[h] += Σ_t g'[t,h]·x[t,:G]: one task per head, no races.
        Par.forEach(H, (long) T * G, h -> {
            for (int i = 0; i < G; i++) {
                double s = 0;
                for (int t = 0; t < T; t++) s += gp[t * H + h] * get(xs, xd, (long) t * C + i);
                Acc.add(dws, dwd, (long) h * G + i, s);
            }
        });
    }

    @Override public void smear(Tensor out, Tensor gate, Tensor x, Tensor w, Tensor lambda) {
        String op = "smear";
        requireFloat(op, "x", x);
        requireRank(op, "x", x, 2, "[T,C]");
        int T = x.size(0), C = x.size(1);
        requireFloat(op, "out", out);
        requireShape(op, "out", out, T, C);
        if (out.sameStorage(x) && overlaps(out, x)) throw new IllegalArgumentException(op + ": out must not alias x");
        requireFloat(op, "gate", gate);
        requireNumel(op, "gate", gate, T);
        requireFloat(op, "w", w);
        int G = Math.toIntExact(w.numel());
        if (G > C) throw new IllegalArgumentException(op + ": w has " + G + " elements, more than the C = " + C + " columns of x " + x.shape());
        requireFloat(op, "lambda", lambda);
        requireNumel(op, "lambda", lambda, 1);
        double lam = get(lambda.segment(), lambda.dtype(), 0);
        MemorySegment os = out.segment(), gs = gate.segment(), xs = x.segment(), ws = w.segment();
        DType od = out.dtype(), gd = gate.dtype(), xd = x.dtype(), wd = w.dtype();
        Par.forEach(T, (long) G + 2L * C, p -> {
            long row = (long) p * C;
            double g = sigmoid(dot(xs, xd, row, ws, wd, 0, G));
            set(gs, gd, p, g);
            double f = lam * g;
            for (int c = 0; c < C; c++) {
                double v = get(xs, xd, row + c);
                if (p >= 1) v += f * get(xs, xd, row - C + c);
                set(os, od, row + c, v);
            }
        });
    }

    @Override public void smearBackward(Tensor dx, Tensor dw, Tensor dLambda, Tensor dOut, Tensor x, Tensor w, Tensor lambda, Tensor gate) {
        String op = "smearBackward";
        requireFloat(op, "x", x);
        requireRank(op, "x", x, 2, "[T,C]");
        int T = x.size(0), C = x.size(1);
        requireFloat(op, "dx", dx);
        requireShape(op, "dx", dx, T, C);
        requireFloat(op, "dOut", dOut);
        requireShape(op, "dOut", dOut, T, C);
        requireFloat(op, "gate", gate);
        requireNumel(op, "gate", gate, T);
        requireFloat(op, "w", w);
        int G = Math.toIntExact(w.numel());
        if (G > C) throw new IllegalArgumentException(op + ": w has " + G + " elements, more than the C = " + C + " columns of x " + x.shape());
        requireFloat(op, "dw", dw);
        requireNumel(op, "dw", dw, G);
        requireFloat(op, "lambda", lambda);
        requireNumel(op, "lambda", lambda, 1);
        requireFloat(op, "dLambda", dLambda);
        requireNumel(op, "dLambda", dLambda, 1);
        double lam = get(lambda.segment(), lambda.dtype(), 0);
        MemorySegment dxs = dx.segment(), dws = dw.segment(), gs = dOut.segment(), xs = x.segment(), ws = w.segment(), gts = gate.segment();
        DType dxd = dx.dtype(), dwd = dw.dtype(), gd = dOut.dtype(), xd = x.dtype(), wd = w.dtype(), gtd = gate.dtype();
        double[] gp = Scratch.doubles(0, T); // g'[p] = λ·s_p·gate(1−gate)
        double[] sg = Scratch.doubles(1, T); // gate[p]·s_p, summed into dλ
        // Gather form per row q: dx[q] += dOut[q] + λ·gate[q+1]·dOut[q+1] (+ gate term below).
        Par.forEach(T, 4L * C, q -> {
            long row = (long) q * C;
            if (q >= 1) {
                double g = get(gts, gtd, q);
                double s = dot(gs, gd, row, xs, xd, row - C, C); // dOut[q]·x[q−1]
                gp[q] = lam * s * g * (1 - g);
                sg[q] = g * s;
            } else {
                gp[q] = 0;
                sg[q] = 0;
            }
            double fNext = q + 1 < T ? lam * get(gts, gtd, q + 1) : 0;
            for (int c = 0; c < C; c++) {
                double v = get(gs, gd, row + c);
                if (q + 1 < T) v += fNext * get(gs, gd, row + C + c);
                Acc.add(dxs, dxd, row + c, v);
            }
            for (int i = 0; i < G; i++) Acc.add(dxs, dxd, row + i, gp[q] * get(ws, wd, i));
        });
        double dl = 0;
        for (int p = 1; p < T; p++) dl += sg[p];
        Acc.add(dLambda.segment(), dLambda.dtype(), 0, dl);
        for (int i = 0; i < G; i++) {
            double s = 0;
            for (int p = 1; p < T; p++) s += gp[p] * get(xs, xd, (long) p * C + i);
            Acc.add(dws, dwd, i, s);
        }
    }

    // ================================================================== loss

    @Override public void softcapCrossEntropy(Tensor losses, Tensor dLogits, Tensor logits, Tensor targets, Tensor targetWeights,
                                              double[] weights, double cap, double divisor, double gradScale) {
        String op = "softcapCrossEntropy";
        requireFloat(op, "logits", logits);
        requireRank(op, "logits", logits, 2, "[T,V]");
        int T = logits.size(0), V = logits.size(1);
        requireFloat(op, "losses", losses);
        requireNumel(op, "losses", losses, T);
        if (dLogits != null) {
            requireFloat(op, "dLogits", dLogits);
            requireShape(op, "dLogits", dLogits, T, V);
        }
        requireI32(op, "targets", targets);
        requireNumel(op, "targets", targets, T);
        if (targetWeights != null) {
            requireFloat(op, "targetWeights", targetWeights);
            requireNumel(op, "targetWeights", targetWeights, T);
        }
        if (weights == null || weights.length == 0) throw new IllegalArgumentException(op + ": weights must hold at least one MTP weight");
        if (V == 0 && T > 0) throw new IllegalArgumentException(op + ": logits " + logits.shape() + " have no vocabulary columns");
        checkTokens(op + " targets", targets, V);
        int K = weights.length;
        MemorySegment lss = losses.segment(), zs = logits.segment(), ts = targets.segment();
        MemorySegment ms = targetWeights == null ? null : targetWeights.segment();
        MemorySegment dzs = dLogits == null ? null : dLogits.segment();
        DType lsd = losses.dtype(), zd = logits.dtype(), md = targetWeights == null ? null : targetWeights.dtype();
        DType dzd = dLogits == null ? null : dLogits.dtype();
        double capOverDiv = cap / divisor;
        Par.forEach(T, 12L * V, p -> {
            double[] ell = Scratch.doubles(Scratch.TASK, V), sg = Scratch.doubles(Scratch.TASK + 1, V);
            long row = (long) p * V;
            double mx = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < V; c++) {
                double s = sigmoid(get(zs, zd, row + c) / divisor);
                sg[c] = s;
                ell[c] = cap * s;
                if (ell[c] > mx) mx = ell[c];
            }
            double se = 0;
            for (int c = 0; c < V; c++) se += Math.exp(ell[c] - mx);
            double lse = mx + Math.log(se);
            double coef = 0, loss = 0;
            for (int j = 0; j < K && p + j < T; j++) {
                double wj = weights[j] * (ms == null ? 1.0 : get(ms, md, p + j));
                coef += wj;
                loss += wj * (lse - ell[Acc.getInt(ts, p + j)]);
            }
            set(lss, lsd, p, loss);
            if (dzs == null) return;
            // dℓ = coef·softmax − Σ_j w_j·onehot(target_j); dz = dℓ·cap/div·s(1−s)
            for (int c = 0; c < V; c++) ell[c] = coef * Math.exp(ell[c] - lse);
            for (int j = 0; j < K && p + j < T; j++)
                ell[Acc.getInt(ts, p + j)] -= weights[j] * (ms == null ? 1.0 : get(ms, md, p + j));
            for (int c = 0; c < V; c++) set(dzs, dzd, row + c, gradScale * ell[c] * capOverDiv * sg[c] * (1 - sg[c]));
        });
    }

    // ================================================================== optimizer kernels

    private static void requireSameNumel(String op, Tensor ref, String refName, Object... namesAndTensors) {
        for (int i = 0; i < namesAndTensors.length; i += 2) {
            String name = (String) namesAndTensors[i];
            Tensor t = (Tensor) namesAndTensors[i + 1];
            requireFloat(op, name, t);
            if (t.numel() != ref.numel())
                throw new IllegalArgumentException(op + ": " + name + " " + t.shape() + " must have the numel of " + refName + " " + ref.shape());
        }
    }

    @Override public void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps,
                                   long step, double decay, DecayMask mask) {
        String op = "adamStep";
        requireFloat(op, "p", p);
        requireSameNumel(op, p, "p", "g", g, "m", m, "v", v);
        if (step < 1) throw new IllegalArgumentException(op + ": step must be ≥ 1 (the count after this step), got " + step);
        if (mask == null) throw new IllegalArgumentException(op + ": mask must not be null");
        double stepSize = lr * Math.sqrt(1 - Math.pow(beta2, step)) / (1 - Math.pow(beta1, step));
        MemorySegment ps = p.segment(), gs = g.segment(), mss = m.segment(), vs = v.segment();
        DType pd = p.dtype(), gd = g.dtype(), mdt = m.dtype(), vd = v.dtype();
        blocks(p.numel(), 12, (from, to) -> {
            for (long i = from; i < to; i++) {
                double gv = get(gs, gd, i);
                // the moments as stored (rounded to their dtype) drive the update, as on the GPU
                double mv = Acc.round(mdt, beta1 * get(mss, mdt, i) + (1 - beta1) * gv);
                double vv = Acc.round(vd, beta2 * get(vs, vd, i) + (1 - beta2) * gv * gv);
                set(mss, mdt, i, mv);
                set(vs, vd, i, vv);
                double pv = get(ps, pd, i);
                double u = mv / (Math.sqrt(vv) + eps) * stepSize;
                if (mask.test(u * pv)) u += pv * decay;
                set(ps, pd, i, pv - u);
            }
        });
    }

    @Override public void muonMomentum(Tensor update, Tensor buf, Tensor g, double momentum) {
        String op = "muonMomentum";
        requireFloat(op, "g", g);
        requireSameNumel(op, g, "g", "update", update, "buf", buf);
        MemorySegment us = update.segment(), bs = buf.segment(), gs = g.segment();
        DType ud = update.dtype(), bd = buf.dtype(), gd = g.dtype();
        blocks(g.numel(), 4, (from, to) -> {
            for (long i = from; i < to; i++) {
                double gv = get(gs, gd, i);
                double b = Acc.round(bd, momentum * get(bs, bd, i) + (1 - momentum) * gv);
                set(bs, bd, i, b);
                set(us, ud, i, (1 - momentum) * gv + momentum * b);
            }
        });
    }

    @Override public void frobeniusNormalize(Tensor out, Tensor x, double factor, double eps) {
        String op = "frobeniusNormalize";
        requireFloat(op, "x", x);
        if (x.rank() != 2 && x.rank() != 3) throw new IllegalArgumentException(op + ": x must be [B,R,C] or [R,C], got " + x.shape());
        requireFloat(op, "out", out);
        requireShape(op, "out", out, x.shape().dims());
        int B = x.rank() == 3 ? x.size(0) : 1;
        long n = B == 0 ? 0 : x.numel() / B;
        MemorySegment os = out.segment(), xs = x.segment();
        DType od = out.dtype(), xd = x.dtype();
        Par.forEach(B, 2 * n, b -> {
            long off = b * n;
            double ss = 0;
            for (long i = 0; i < n; i++) { double v = get(xs, xd, off + i); ss += v * v; }
            double inv = 1.0 / (Math.sqrt(ss) * factor + eps);
            for (long i = 0; i < n; i++) set(os, od, off + i, get(xs, xd, off + i) * inv);
        });
    }

    @Override public void varianceReduce(Tensor v, Tensor s2, double beta2) {
        String op = "varianceReduce";
        requireFloat(op, "v", v);
        if (v.rank() != 2 && v.rank() != 3) throw new IllegalArgumentException(op + ": v must be [B,R,C] or [R,C], got " + v.shape());
        int B = v.rank() == 3 ? v.size(0) : 1, R = v.size(-2), C = v.size(-1);
        requireFloat(op, "s2", s2);
        if (v.rank() == 3) requireShape(op, "s2", s2, B, R);
        else requireShape(op, "s2", s2, R);
        MemorySegment vs = v.segment(), ss = s2.segment();
        DType vd = v.dtype(), sd = s2.dtype();
        Par.forEach(B, 3L * R * C, b -> {
            double[] mu = Scratch.doubles(Scratch.TASK, R), rho = Scratch.doubles(Scratch.TASK + 1, R);
            long off = (long) b * R * C;
            double n2 = 0, n2p = 0;
            for (int r = 0; r < R; r++) {
                double s = 0;
                for (int c = 0; c < C; c++) { double x = get(vs, vd, off + (long) r * C + c); s += x * x; }
                mu[r] = s / C;
                n2 += mu[r] * C;
                long si = (long) b * R + r;
                double s2v = Acc.round(sd, get(ss, sd, si) + (1 - beta2) * (mu[r] - get(ss, sd, si)));
                set(ss, sd, si, s2v);
                rho[r] = 1.0 / Math.sqrt(Math.max(s2v, 1e-10));
                n2p += mu[r] * C * rho[r] * rho[r];
            }
            double f = Math.sqrt(n2) / Math.max(Math.sqrt(n2p), 1e-10);
            for (int r = 0; r < R; r++) {
                double k = rho[r] * f;
                long ro = off + (long) r * C;
                for (int c = 0; c < C; c++) set(vs, vd, ro + c, get(vs, vd, ro + c) * k);
            }
        });
    }

    @Override public void decayedUpdate(Tensor p, Tensor v, double lr, double decay, DecayMask mask) {
        String op = "decayedUpdate";
        requireFloat(op, "p", p);
        requireSameNumel(op, p, "p", "v", v);
        if (mask == null) throw new IllegalArgumentException(op + ": mask must not be null");
        MemorySegment ps = p.segment(), vs = v.segment();
        DType pd = p.dtype(), vd = v.dtype();
        blocks(p.numel(), 4, (from, to) -> {
            for (long i = from; i < to; i++) {
                double pv = get(ps, pd, i), vv = get(vs, vd, i);
                double np = pv - vv * lr;
                if (mask.test(vv * pv)) np -= pv * decay;
                set(ps, pd, i, np);
            }
        });
    }
}
