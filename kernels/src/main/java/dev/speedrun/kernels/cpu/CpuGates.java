package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.Acc.get;
import static dev.speedrun.kernels.cpu.Acc.set;

import dev.speedrun.kernels.OpContract;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The gates family of {@link CpuOps} (gates.cu on the GPU): the attention head gate and the smear
 * gate, forward and backward.
 */
final class CpuGates {
    private CpuGates() {}

    static void headGate(Tensor out, Tensor gate, Tensor y, Tensor x, Tensor w) {
        OpContract.HeadGate sz = OpContract.headGate(out, gate, y, x, w);
        int T = sz.T(), H = sz.H(), D = sz.D(), C = sz.C(), G = sz.G();
        MemorySegment os = out.segment(), gs = gate.segment(), ys = y.segment(), xs = x.segment(), ws = w.segment();
        DType od = out.dtype(), gd = gate.dtype(), yd = y.dtype(), xd = x.dtype(), wd = w.dtype();
        Par.forEach(T, (long) H * (G + D), t -> {
            for (int h = 0; h < H; h++) {
                double g = Acc.sigmoid(Acc.dot(xs, xd, (long) t * C, ws, wd, (long) h * G, G));
                set(gs, gd, (long) t * H + h, g);
                long base = ((long) t * H + h) * D;
                for (int d = 0; d < D; d++) set(os, od, base + d, get(ys, yd, base + d) * g);
            }
        });
    }

    static void headGateBackward(Tensor dy, Tensor dx, Tensor dw, Tensor dOut, Tensor y, Tensor x, Tensor w, Tensor gate) {
        OpContract.HeadGate sz = OpContract.headGateBackward(dy, dx, dw, dOut, y, x, w, gate);
        int T = sz.T(), H = sz.H(), D = sz.D(), C = sz.C(), G = sz.G();
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
        // dw[h] += Σ_t g'[t,h]·x[t,:G]: one task per head, no races; a BF16 dw gets the sum rounded first.
        Par.forEach(H, (long) T * G, h -> {
            for (int i = 0; i < G; i++) {
                double s = 0;
                for (int t = 0; t < T; t++) s += gp[t * H + h] * get(xs, xd, (long) t * C + i);
                Acc.addGrad(dws, dwd, (long) h * G + i, s);
            }
        });
    }

    static void smear(Tensor out, Tensor gate, Tensor x, Tensor w, Tensor lambda) {
        OpContract.Smear sz = OpContract.smear(out, gate, x, w, lambda);
        int T = sz.T(), C = sz.C(), G = sz.G();
        double lam = get(lambda.segment(), lambda.dtype(), 0);
        MemorySegment os = out.segment(), gs = gate.segment(), xs = x.segment(), ws = w.segment();
        DType od = out.dtype(), gd = gate.dtype(), xd = x.dtype(), wd = w.dtype();
        Par.forEach(T, (long) G + 2L * C, p -> {
            long row = (long) p * C;
            double g = Acc.sigmoid(Acc.dot(xs, xd, row, ws, wd, 0, G));
            set(gs, gd, p, g);
            double f = lam * g;
            for (int c = 0; c < C; c++) {
                double v = get(xs, xd, row + c);
                if (p >= 1) v += f * get(xs, xd, row - C + c);
                set(os, od, row + c, v);
            }
        });
    }

    static void smearBackward(Tensor dx, Tensor dw, Tensor dLambda, Tensor dOut, Tensor x, Tensor w, Tensor lambda, Tensor gate) {
        OpContract.Smear sz = OpContract.smearBackward(dx, dw, dLambda, dOut, x, w, lambda, gate);
        int T = sz.T(), C = sz.C(), G = sz.G();
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
                double s = Acc.dot(gs, gd, row, xs, xd, row - C, C); // dOut[q]·x[q−1]
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
        // parameter gradients: a BF16 one gets the sum rounded first (Acc.addGrad)
        Acc.addGrad(dLambda.segment(), dLambda.dtype(), 0, dl);
        for (int i = 0; i < G; i++) {
            double s = 0;
            for (int p = 1; p < T; p++) s += gp[p] * get(xs, xd, (long) p * C + i);
            Acc.addGrad(dws, dwd, i, s);
        }
    }

}
