package dev.speedrun.kernels.cpu;

import dev.speedrun.kernels.DecayMask;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Adam and the NorMuon kernels against direct transcriptions of spec §5. */
class CpuOptimizerTest extends OpTestSupport {

    @Test void adamAllMasksAndMomentDtypes() {
        int n = 257;
        double lr = 0.008 * 75, b1 = 0.65, b2 = 0.95, eps = 1e-8, decay = 0.008 * 0.005 * 0.008 * 75;
        for (DType pd : new DType[] {DType.F32, DType.F64})
            for (DType md : new DType[] {DType.F32, DType.F64, DType.BF16})
                for (DecayMask mask : DecayMask.values()) {
                    Tensor p = rand(pd, n), m = zeros(md, n), v = zeros(md, n);
                    double[] pr = d(p), mr = new double[n], vr = new double[n];
                    // a few exact zeros in g and p make GE and GT differ
                    for (long step = 1; step <= 3; step++) {
                        double[] gv = randn(n);
                        for (int i = 0; i < n; i += 17) gv[i] = 0;
                        if (step == 1) for (int i = 5; i < n; i += 31) { pr[i] = 0; }
                        if (step == 1) dev.speedrun.tensor.HostData.write(p, pr);
                        Tensor g = t(pd, gv, n);
                        gv = d(g);
                        OPS.adamStep(p, g, m, v, lr, b1, b2, eps, step, decay, mask);
                        // spec §5, the moments stored in their dtype
                        for (int i = 0; i < n; i++) {
                            mr[i] = Reference.store(md, b1 * mr[i] + (1 - b1) * gv[i]);
                            vr[i] = Reference.store(md, b2 * vr[i] + (1 - b2) * gv[i] * gv[i]);
                            double u = mr[i] / (Math.sqrt(vr[i]) + eps) * lr * Math.sqrt(1 - Math.pow(b2, step)) / (1 - Math.pow(b1, step));
                            boolean keep = switch (mask) { case ALL -> true; case GE -> u * pr[i] >= 0; case GT -> u * pr[i] > 0; };
                            if (keep) u += pr[i] * decay;
                            pr[i] = Reference.store(pd, pr[i] - u);
                        }
                        String tag = "adam p=" + pd + " m=" + md + " " + mask;
                        close(tag + " p", pr, d(p), tol(pd));
                        close(tag + " m", mr, d(m), md == DType.F64 ? TOL_F64 : TOL_F32);
                        close(tag + " v", vr, d(v), md == DType.F64 ? TOL_F64 : TOL_F32);
                    }
                }
    }

    @Test void adamMasksDifferExactlyWhereUpdateTimesParamIsZeroOrNegative() {
        // element 0: g = 0 so u = 0 (GE decays, GT does not); element 1: u·p < 0 (only ALL decays);
        // element 2: u·p > 0 (all decay)
        double[] p0 = {0.5, -0.5, 0.5}, g0 = {0, 1, 1};
        double decay = 0.01;
        double[][] res = new double[3][];
        for (DecayMask mask : DecayMask.values()) {
            Tensor p = t(DType.F64, p0, 3), g = t(DType.F64, g0, 3), m = zeros(DType.F64, 3), v = zeros(DType.F64, 3);
            OPS.adamStep(p, g, m, v, 0.1, 0.9, 0.99, 1e-8, 1, decay, mask);
            res[mask.ordinal()] = d(p);
        }
        double[] all = res[DecayMask.ALL.ordinal()], ge = res[DecayMask.GE.ordinal()], gt = res[DecayMask.GT.ordinal()];
        org.junit.jupiter.api.Assertions.assertEquals(0.5 - 0.5 * decay, all[0], 1e-15);
        org.junit.jupiter.api.Assertions.assertEquals(0.5 - 0.5 * decay, ge[0], 1e-15);
        org.junit.jupiter.api.Assertions.assertEquals(0.5, gt[0], 1e-15);
        org.junit.jupiter.api.Assertions.assertNotEquals(all[1], ge[1]);
        org.junit.jupiter.api.Assertions.assertEquals(ge[1], gt[1]);
        org.junit.jupiter.api.Assertions.assertEquals(all[2], gt[2]);
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void muonMomentum(DType d) {
        int n = 53;
        double mom = 0.9;
        Tensor buf = rand(d, n), g = rand(d, n), upd = zeros(d, n);
        double[] bv = d(buf), gv = d(g);
        OPS.muonMomentum(upd, buf, g, mom);
        double[] eb = new double[n], eu = new double[n];
        for (int i = 0; i < n; i++) {
            eb[i] = mom * bv[i] + (1 - mom) * gv[i];
            eu[i] = (1 - mom) * gv[i] + mom * eb[i];
        }
        close("muonMomentum buf " + d, eb, d(buf), tol(d));
        close("muonMomentum update " + d, eu, d(upd), tol(d));
        OPS.muonMomentum(g, buf, g, mom); // update aliasing g
        double[] eu2 = new double[n];
        for (int i = 0; i < n; i++) eu2[i] = (1 - mom) * gv[i] + mom * (mom * eb[i] + (1 - mom) * gv[i]);
        close("muonMomentum in place " + d, eu2, d(g), tol(d));
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void frobeniusNormalize(DType d) {
        for (long[] shape : new long[][] {{5, 3}, {4, 6, 5}}) {
            int B = shape.length == 3 ? (int) shape[0] : 1;
            int n = (int) (shape[shape.length - 1] * shape[shape.length - 2]);
            Tensor x = rand(d, shape), out = zeros(d, shape);
            double[] xv = d(x), e = new double[B * n];
            OPS.frobeniusNormalize(out, x, 1.02, 1e-6);
            for (int b = 0; b < B; b++) {
                double s = 0;
                for (int i = 0; i < n; i++) s += xv[b * n + i] * xv[b * n + i];
                for (int i = 0; i < n; i++) e[b * n + i] = xv[b * n + i] / (Math.sqrt(s) * 1.02 + 1e-6);
            }
            close("frobeniusNormalize " + d, e, d(out), tol(d));
            OPS.frobeniusNormalize(x, x, 1.02, 1e-6);
            close("frobeniusNormalize in place " + d, e, d(x), tol(d));
        }
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void varianceReduce(DType d) {
        double beta2 = 0.95;
        for (long[] shape : new long[][] {{6, 4}, {3, 5, 7}}) {
            int B = shape.length == 3 ? (int) shape[0] : 1, R = (int) shape[shape.length - 2], C = (int) shape[shape.length - 1];
            Tensor v = rand(d, shape);
            Tensor s2 = shape.length == 3 ? t(d, uniform(B * R, 0, 0.1), B, R) : t(d, uniform(R, 0, 0.1), R);
            double[] vv = d(v), sv = d(s2);
            // one row with a zero state and zero update exercises the 1e-10 clamps
            for (int c = 0; c < C; c++) vv[c] = 0;
            sv[0] = 0;
            dev.speedrun.tensor.HostData.write(v, vv);
            dev.speedrun.tensor.HostData.write(s2, sv);
            OPS.varianceReduce(v, s2, beta2);
            // spec §5 step 4, per matrix
            double[] ev = vv.clone(), es = sv.clone();
            for (int b = 0; b < B; b++) {
                double[] mu = new double[R];
                double n2 = 0, n2p = 0;
                for (int r = 0; r < R; r++) {
                    for (int c = 0; c < C; c++) mu[r] += vv[(b * R + r) * C + c] * vv[(b * R + r) * C + c] / C;
                    n2 += mu[r] * C;
                    es[b * R + r] = Reference.store(d, es[b * R + r] + (1 - beta2) * (mu[r] - es[b * R + r]));
                }
                for (int r = 0; r < R; r++) {
                    double rho = 1 / Math.sqrt(Math.max(es[b * R + r], 1e-10));
                    n2p += mu[r] * C * rho * rho;
                }
                for (int r = 0; r < R; r++) {
                    double rho = 1 / Math.sqrt(Math.max(es[b * R + r], 1e-10));
                    for (int c = 0; c < C; c++) ev[(b * R + r) * C + c] *= rho * Math.sqrt(n2) / Math.max(Math.sqrt(n2p), 1e-10);
                }
            }
            close("varianceReduce v " + d, ev, d(v), tol(d));
            close("varianceReduce s2 " + d, es, d(s2), tol(d));
        }
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void decayedUpdate(DType d) {
        int n = 71;
        double lr = 0.023 * 2, decay = 1.2 * 0.023 * 0.023 * 2;
        for (DecayMask mask : DecayMask.values()) {
            double[] pv = randn(n), vv = randn(n);
            for (int i = 0; i < n; i += 9) vv[i] = 0;
            Tensor p = t(d, pv, n), v = t(d, vv, n);
            pv = d(p);
            vv = d(v);
            OPS.decayedUpdate(p, v, lr, decay, mask);
            double[] e = new double[n];
            for (int i = 0; i < n; i++) {
                boolean keep = switch (mask) { case ALL -> true; case GE -> vv[i] * pv[i] >= 0; case GT -> vv[i] * pv[i] > 0; };
                e[i] = pv[i] - (keep ? pv[i] * decay : 0) - vv[i] * lr;
            }
            close("decayedUpdate " + d + " " + mask, e, d(p), tol(d));
        }
    }
}
