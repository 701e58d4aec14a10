package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.Acc.get;
import static dev.speedrun.kernels.cpu.Acc.set;

import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.OpContract;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The optimizer family of {@link CpuOps} (optimizer.cu on the GPU): the Adam step, Muon momentum,
 * Frobenius normalisation, NorMuon variance reduction and the decayed update. Moment and state
 * values are rounded to their dtype before they drive the update, as on the GPU.
 */
final class CpuOptimizer {
    private CpuOptimizer() {}

    static void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps,
                                   long step, double decay, DecayMask mask) {
        OpContract.adamStep(p, g, m, v, step, mask);
        double stepSize = lr * Math.sqrt(1 - Math.pow(beta2, step)) / (1 - Math.pow(beta1, step));
        MemorySegment ps = p.segment(), gs = g.segment(), mss = m.segment(), vs = v.segment();
        DType pd = p.dtype(), gd = g.dtype(), mdt = m.dtype(), vd = v.dtype();
        Par.blocks(p.numel(), 12, (from, to) -> {
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

    static void muonMomentum(Tensor update, Tensor buf, Tensor g, double momentum) {
        OpContract.muonMomentum(update, buf, g);
        MemorySegment us = update.segment(), bs = buf.segment(), gs = g.segment();
        DType ud = update.dtype(), bd = buf.dtype(), gd = g.dtype();
        Par.blocks(g.numel(), 4, (from, to) -> {
            for (long i = from; i < to; i++) {
                double gv = get(gs, gd, i);
                double b = Acc.round(bd, momentum * get(bs, bd, i) + (1 - momentum) * gv);
                set(bs, bd, i, b);
                set(us, ud, i, (1 - momentum) * gv + momentum * b);
            }
        });
    }

    static void frobeniusNormalize(Tensor out, Tensor x, double factor, double eps) {
        int B = OpContract.frobeniusNormalize(out, x).B();
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

    static void varianceReduce(Tensor v, Tensor s2, double beta2) {
        OpContract.Matrices mats = OpContract.varianceReduce(v, s2);
        int B = mats.B(), R = mats.R(), C = mats.C();
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

    static void decayedUpdate(Tensor p, Tensor v, double lr, double decay, DecayMask mask) {
        OpContract.decayedUpdate(p, v, mask);
        MemorySegment ps = p.segment(), vs = v.segment();
        DType pd = p.dtype(), vd = v.dtype();
        Par.blocks(p.numel(), 4, (from, to) -> {
            for (long i = from; i < to; i++) {
                double pv = get(ps, pd, i), vv = get(vs, vd, i);
                double np = pv - vv * lr;
                if (mask.test(vv * pv)) np -= pv * decay;
                set(ps, pd, i, np);
            }
        });
    }
}
