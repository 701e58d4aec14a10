package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.Acc.get;
import static dev.speedrun.kernels.cpu.Acc.set;

import dev.speedrun.kernels.OpContract;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The elementwise family of {@link CpuOps} (elementwise.cu on the GPU): fills, conversions, sums,
 * activations, full reductions and the token mask. All-F32 calls of the hot ops go to
 * {@link ElementwiseVector}: such an op picks the vector or the scalar block body, then runs
 * either over the same {@link Par#blocks}.
 */
final class CpuElementwise {
    private CpuElementwise() {}

    static void fill(Tensor out, double value) {
        OpContract.fill(out, value);
        if (out.dtype() == DType.I32) {
            MemorySegment s = out.segment();
            int iv = (int) value;
            for (long i = 0, n = out.numel(); i < n; i++) s.setAtIndex(Acc.I, i, iv);
            return;
        }
        MemorySegment s = out.segment();
        DType d = out.dtype();
        double stored = Acc.round(d, value);
        Par.blocks(out.numel(), 1, (from, to) -> { for (long i = from; i < to; i++) set(s, d, i, stored); });
    }

    static void convert(Tensor out, Tensor x) {
        OpContract.convert(out, x);
        MemorySegment os = out.segment(), xs = x.segment();
        DType od = out.dtype(), xd = x.dtype();
        Par.blocks(out.numel(), 1, (from, to) -> { for (long i = from; i < to; i++) set(os, od, i, get(xs, xd, i)); });
    }

    static void add(Tensor out, Tensor x, Tensor y) {
        OpContract.add(out, x, y);
        MemorySegment os = out.segment(), xs = x.segment(), ys = y.segment();
        DType od = out.dtype(), xd = x.dtype(), yd = y.dtype();
        Par.blocks(out.numel(), 1, Vectors.f32(out, x, y)
                ? (from, to) -> ElementwiseVector.add(os, xs, ys, from, to)
                : (from, to) -> { for (long i = from; i < to; i++) set(os, od, i, get(xs, xd, i) + get(ys, yd, i)); });
    }

    static void mix(Tensor out, Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb) {
        OpContract.mix(out, x, a, y, b);
        double fa = ca * Acc.scalarOr1(a);
        double fb = cb * Acc.scalarOr1(b);
        MemorySegment os = out.segment(), xs = x.segment(), ys = y == null ? null : y.segment();
        DType od = out.dtype(), xd = x.dtype(), yd = y == null ? null : y.dtype();
        float ffa = (float) fa, ffb = (float) fb;
        Par.blocks(out.numel(), 2, Vectors.f32(out, x, y)
                ? (from, to) -> ElementwiseVector.mix(os, xs, ffa, ys, ffb, from, to)
                : (from, to) -> {
                    for (long i = from; i < to; i++) {
                        double v = fa * get(xs, xd, i);
                        if (ys != null) v += fb * get(ys, yd, i);
                        set(os, od, i, v);
                    }
                });
    }

    static void mixBackward(Tensor dx, Tensor dy, Tensor da, Tensor db, Tensor dOut,
                                      Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb) {
        OpContract.mixBackward(dx, dy, da, db, dOut, x, a, y, b);
        long n = dOut.numel();
        double fa = ca * Acc.scalarOr1(a), fb = cb * Acc.scalarOr1(b);
        MemorySegment gs = dOut.segment();
        DType gd = dOut.dtype();
        MemorySegment dxs = dx == null ? null : dx.segment(), dys = dy == null ? null : dy.segment();
        DType dxd = dx == null ? null : dx.dtype(), dyd = dy == null ? null : dy.dtype();
        MemorySegment xs = da == null ? null : x.segment(), ys = db == null ? null : y.segment();
        DType xd = da == null ? null : x.dtype(), yd = db == null ? null : y.dtype();
        // Sums must not race: blocks compute partial sums into scratch owned by the caller.
        int nb = Par.blockCount(n);
        // Block b's partial sums go to part[2b] (Σ dOut·x) and part[2b+1] (Σ dOut·y).
        double[] part = Scratch.doubles(0, 2 * nb);
        if (Vectors.f32(dOut, dx, dy, xs == null ? null : x, ys == null ? null : y)) {
            float ffa = (float) fa, ffb = (float) fb;
            Par.forEach(nb, (long) Par.BLOCK * 4, blk -> {
                long from = (long) blk * Par.BLOCK, to = Math.min(n, from + Par.BLOCK);
                ElementwiseVector.mixBackward(dxs, dys, gs, xs, ys, ffa, ffb, from, to, part, blk);
            });
        } else Par.forEach(nb, (long) Par.BLOCK * 4, blk -> {
            long from = (long) blk * Par.BLOCK, to = Math.min(n, from + Par.BLOCK);
            double sa = 0, sb = 0;
            for (long i = from; i < to; i++) {
                double g = get(gs, gd, i);
                // read every input before writing, so dx/dy may alias dOut
                if (xs != null) sa += g * get(xs, xd, i);
                if (ys != null) sb += g * get(ys, yd, i);
                if (dxs != null) Acc.add(dxs, dxd, i, fa * g);
                if (dys != null) Acc.add(dys, dyd, i, fb * g);
            }
            part[2 * blk] = sa;
            part[2 * blk + 1] = sb;
        });
        if (da != null) {
            double s = 0;
            for (int i = 0; i < nb; i++) s += part[2 * i];
            Acc.add(da.segment(), da.dtype(), 0, ca * s);
        }
        if (db != null) {
            double s = 0;
            for (int i = 0; i < nb; i++) s += part[2 * i + 1];
            Acc.add(db.segment(), db.dtype(), 0, cb * s);
        }
    }

    static void sigmoid(Tensor out, Tensor x) {
        OpContract.sigmoid(out, x);
        MemorySegment os = out.segment(), xs = x.segment();
        DType od = out.dtype(), xd = x.dtype();
        Par.blocks(out.numel(), 8, (from, to) -> { for (long i = from; i < to; i++) set(os, od, i, Acc.sigmoid(get(xs, xd, i))); });
    }

    static void sigmoidBackward(Tensor dx, Tensor dOut, Tensor y) {
        OpContract.sigmoidBackward(dx, dOut, y);
        MemorySegment ds = dx.segment(), gs = dOut.segment(), ys = y.segment();
        DType dd = dx.dtype(), gd = dOut.dtype(), yd = y.dtype();
        Par.blocks(dx.numel(), 2, (from, to) -> {
            for (long i = from; i < to; i++) {
                double yv = get(ys, yd, i), g = get(gs, gd, i);
                Acc.add(ds, dd, i, g * yv * (1 - yv));
            }
        });
    }

    static void reluSquared(Tensor out, Tensor x) {
        OpContract.reluSquared(out, x);
        MemorySegment os = out.segment(), xs = x.segment();
        DType od = out.dtype(), xd = x.dtype();
        Par.blocks(out.numel(), 1, Vectors.f32(out, x)
                ? (from, to) -> ElementwiseVector.reluSquared(os, xs, from, to)
                : (from, to) -> {
                    for (long i = from; i < to; i++) {
                        double v = get(xs, xd, i);
                        double r = v > 0 ? v : 0;
                        set(os, od, i, r * r);
                    }
                });
    }

    static void reluSquaredBackward(Tensor dx, Tensor dOut, Tensor x) {
        OpContract.reluSquaredBackward(dx, dOut, x);
        MemorySegment ds = dx.segment(), gs = dOut.segment(), xs = x.segment();
        DType dd = dx.dtype(), gd = dOut.dtype(), xd = x.dtype();
        Par.blocks(dx.numel(), 2, Vectors.f32(dx, dOut, x)
                ? (from, to) -> ElementwiseVector.reluSquaredBackward(ds, gs, xs, from, to)
                : (from, to) -> {
                    for (long i = from; i < to; i++) {
                        double v = get(xs, xd, i), g = get(gs, gd, i);
                        if (v > 0) Acc.add(ds, dd, i, 2 * v * g);
                    }
                });
    }

    static void sum(Tensor out, Tensor x, boolean accumulate) {
        OpContract.sum(out, x);
        reduce(out, x, accumulate, false);
    }

    static void sumSquares(Tensor out, Tensor x, boolean accumulate) {
        OpContract.sumSquares(out, x);
        reduce(out, x, accumulate, true);
    }

    private static void reduce(Tensor out, Tensor x, boolean accumulate, boolean squares) {
        long n = x.numel();
        MemorySegment xs = x.segment();
        DType xd = x.dtype();
        int nb = Par.blockCount(n);
        double[] part = Scratch.doubles(0, nb);
        Par.forEach(nb, Par.BLOCK, blk -> {
            long from = (long) blk * Par.BLOCK, to = Math.min(n, from + Par.BLOCK);
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

    static void tokenMask(Tensor out, Tensor tokens, int value, double ifEqual, double otherwise) {
        OpContract.tokenMask(out, tokens);
        MemorySegment os = out.segment(), ts = tokens.segment();
        DType od = out.dtype();
        for (long i = 0, n = out.numel(); i < n; i++) set(os, od, i, Acc.getInt(ts, i) == value ? ifEqual : otherwise);
    }

    /**
     * {@code out[i] = fp8(x[i] / scale)}: the quotient in F32, then round to nearest even with
     * saturation into out's format ({@link Fp8}); the bytes equal the CUDA kernel's.
     */
    static void quantizeFp8(Tensor out, Tensor x, Tensor scale) {
        OpContract.quantizeFp8(out, x, scale);
        MemorySegment os = out.segment(), xs = x.segment();
        DType xd = x.dtype(), f = out.dtype();
        float s = (float) Acc.get(scale.segment(), DType.F32, 0);
        for (long i = 0, n = out.numel(); i < n; i++) os.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, Fp8.quantize(Acc.get(xs, xd, i), s, f));
    }
}
