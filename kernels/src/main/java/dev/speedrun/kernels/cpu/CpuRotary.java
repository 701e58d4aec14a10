package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.Acc.get;
import static dev.speedrun.kernels.cpu.Acc.set;

import dev.speedrun.kernels.OpContract;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The rotary family of {@link CpuOps} (rotary.cu on the GPU): half-truncated rotary embedding and
 * the key shift of the long-window layers, forward and backward. All-F32 rotary calls go to
 * {@link RotaryVector}.
 */
final class CpuRotary {
    private CpuRotary() {}

    static void rotary(Tensor out, Tensor x, Tensor freqs) {
        OpContract.rotary(out, x, freqs);
        rotate(out, x, freqs, false);
    }

    static void rotaryBackward(Tensor dx, Tensor dOut, Tensor freqs) {
        OpContract.rotaryBackward(dx, dOut, freqs);
        rotate(dx, dOut, freqs, true);
    }

    /** Forward (overwrite, rotation by +θ) or backward (accumulate, rotation by −θ). */
    private static void rotate(Tensor out, Tensor x, Tensor freqs, boolean backward) {
        int T = x.size(0), H = x.size(1), D = x.size(2);
        int half = D / 2;
        MemorySegment os = out.segment(), xs = x.segment(), fs = freqs.segment();
        DType od = out.dtype(), xd = x.dtype(), fd = freqs.dtype();
        if (Vectors.f32(out, x)) {
            Par.rowBlocks(T, (long) H * D * 2, (r0, r1) -> {
                double[] csd = Scratch.doubles(Scratch.TASK, D);
                float[] xb = Scratch.floats(Scratch.TASK + 1, H * D),
                        ob = Scratch.floats(Scratch.TASK + 2, H * D);
                for (int p = r0; p < r1; p++) {
                    for (int j = 0; j < half; j++) { // angles in double, as in the scalar path
                        double th = p * get(fs, fd, j);
                        csd[j] = Math.cos(th);
                        csd[half + j] = Math.sin(th);
                    }
                    RotaryVector.rotateRow(os, xs, p, H, D, csd, backward, xb, ob);
                }
            });
            return;
        }
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

    static void keyShift(Tensor out, Tensor x) {
        OpContract.Thd sz = OpContract.keyShift(out, x);
        int T = sz.T(), H = sz.H(), D = sz.D();
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

    static void keyShiftBackward(Tensor dx, Tensor dOut) {
        OpContract.Thd sz = OpContract.keyShiftBackward(dx, dOut);
        int T = sz.T(), H = sz.H(), D = sz.D();
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

}
