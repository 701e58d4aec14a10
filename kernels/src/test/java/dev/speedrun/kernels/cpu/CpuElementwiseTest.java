package dev.speedrun.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class CpuElementwiseTest extends OpTestSupport {

    @Test void kernelsFindsCpuOps() {
        assertTrue(Kernels.cpu() instanceof CpuOps);
        assertEquals("cpu", Kernels.cpu().backend().name());
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64", "BF16"})
    void fillStoresTheRoundedValue(DType d) {
        Tensor t = zeros(d, 3, 5);
        OPS.fill(t, 0.1);
        for (double v : d(t)) assertEquals(Reference.store(d, 0.1), v);
    }

    @Test void convertRoundsToNearestEven() {
        // random doubles plus exact bf16 ties and values just beside a float-level tie
        int n = 4000;
        double[] x = randn(n);
        for (int i = 0; i < 200; i++) {
            double base = Reference.bf16(x[i]);
            double ulp = Math.ulp((float) base) * 65536.0; // bf16 ulp at base
            x[i] = base + ulp / 2;                          // exact tie
            x[200 + i] = base + ulp / 2 + Math.ulp(base) * 4;  // just above (float would tie)
            x[400 + i] = base + ulp / 2 - Math.ulp(base) * 4;  // just below
        }
        for (DType to : new DType[] {DType.F32, DType.F64, DType.BF16}) {
            Tensor src = t(DType.F64, x, n), dst = zeros(to, n);
            OPS.convert(dst, src);
            double[] got = d(dst);
            for (int i = 0; i < n; i++) { int k = i; assertEquals(Reference.store(to, x[k]), got[k], () -> to + " of " + x[k]); }
        }
        // bf16 → f32 is exact
        Tensor b = t(DType.BF16, x, n), f = zeros(DType.F32, n);
        OPS.convert(f, b);
        double[] bv = d(b), fv = d(f);
        for (int i = 0; i < n; i++) assertEquals(bv[i], fv[i]);
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64", "BF16"})
    void addAndMix(DType d) {
        int n = 37;
        Tensor x = rand(d, n), y = rand(d, n), out = zeros(d, n);
        double[] xv = d(x), yv = d(y);
        double tol = d == DType.BF16 ? 1e-2 : tol(d);
        OPS.add(out, x, y);
        double[] e = new double[n];
        for (int i = 0; i < n; i++) e[i] = xv[i] + yv[i];
        close("add " + d, e, d(out), tol);

        Tensor a = scalar(d, 0.75), b = scalar(d, -1.25);
        OPS.mix(out, x, a, 2.0, y, b, 0.5);
        for (int i = 0; i < n; i++) e[i] = 2.0 * 0.75 * xv[i] + 0.5 * -1.25 * yv[i];
        close("mix " + d, e, d(out), tol);

        OPS.mix(x, x, null, 3.0, null, null, 0); // in place, no second term
        for (int i = 0; i < n; i++) e[i] = 3 * xv[i];
        close("mix in place " + d, e, d(x), tol);
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void mixBackwardAccumulates(DType d) {
        int n = 41;
        Tensor x = rand(d, n), y = rand(d, n), g = rand(d, n), a = scalar(d, 0.3), b = scalar(d, -0.7);
        Tensor dx = rand(d, n), dy = rand(d, n), da = scalar(d, 0.5), db = scalar(d, 0.25);
        double[] dx0 = d(dx), dy0 = d(dy), xv = d(x), yv = d(y), gv = d(g);
        OPS.mixBackward(dx, dy, da, db, g, x, a, 2, y, b, 3);
        double[] edx = new double[n], edy = new double[n];
        for (int i = 0; i < n; i++) { edx[i] = 2 * 0.3 * gv[i]; edy[i] = 3 * -0.7 * gv[i]; }
        close("mixBackward dx " + d, edx, minus(d(dx), dx0), tol(d));
        close("mixBackward dy " + d, edy, minus(d(dy), dy0), tol(d));
        close("mixBackward da " + d, new double[] {2 * dot(gv, xv)}, new double[] {d(da)[0] - 0.5}, tol(d));
        close("mixBackward db " + d, new double[] {3 * dot(gv, yv)}, new double[] {d(db)[0] - 0.25}, tol(d));
        // da without a is rejected
        assertThrows(IllegalArgumentException.class, () -> OPS.mixBackward(null, null, da, null, g, x, null, 1, null, null, 0));
    }

    @Test void mixFiniteDifferences() {
        DType d = DType.F64;
        int n = 13;
        Tensor x = rand(d, n), y = rand(d, n), a = scalar(d, 0.3), b = scalar(d, -0.7), r = rand(d, n), out = zeros(d, n);
        Tensor dx = zeros(d, n), dy = zeros(d, n), da = scalar(d, 0), db = scalar(d, 0);
        OPS.mixBackward(dx, dy, da, db, r, x, a, 2, y, b, 3);
        var loss = projection(r, out, () -> OPS.mix(out, x, a, 2, y, b, 3));
        fdCheck("mix x", x, d(dx), loss);
        fdCheck("mix y", y, d(dy), loss);
        fdCheck("mix a", a, d(da), loss);
        fdCheck("mix b", b, d(db), loss);
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void sigmoidAndReluSquared(DType d) {
        int n = 29;
        Tensor x = t(d, uniform(n, -4, 4), n), out = zeros(d, n), dOut = rand(d, n), dx = rand(d, n);
        double[] xv = d(x), gv = d(dOut), dx0 = d(dx), e = new double[n], eg = new double[n];
        OPS.sigmoid(out, x);
        for (int i = 0; i < n; i++) e[i] = Reference.sig(xv[i]);
        close("sigmoid " + d, e, d(out), tol(d));
        double[] yv = d(out);
        OPS.sigmoidBackward(dx, dOut, out);
        for (int i = 0; i < n; i++) eg[i] = gv[i] * yv[i] * (1 - yv[i]);
        close("sigmoidBackward " + d, eg, minus(d(dx), dx0), tol(d));

        OPS.reluSquared(out, x);
        for (int i = 0; i < n; i++) e[i] = xv[i] > 0 ? xv[i] * xv[i] : 0;
        close("reluSquared " + d, e, d(out), tol(d));
        dx0 = d(dx);
        OPS.reluSquaredBackward(dx, dOut, x);
        for (int i = 0; i < n; i++) eg[i] = xv[i] > 0 ? 2 * xv[i] * gv[i] : 0;
        close("reluSquaredBackward " + d, eg, minus(d(dx), dx0), tol(d));

        OPS.sigmoid(x, x); // in place
        for (int i = 0; i < n; i++) e[i] = Reference.sig(xv[i]);
        close("sigmoid in place " + d, e, d(x), tol(d));
    }

    @Test void sigmoidAndReluSquaredFiniteDifferences() {
        DType d = DType.F64;
        int n = 17;
        Tensor x = t(d, uniform(n, -3, 3), n), r = rand(d, n), out = zeros(d, n), y = zeros(d, n);
        Tensor dx = zeros(d, n);
        OPS.sigmoid(y, x);
        OPS.sigmoidBackward(dx, r, y);
        fdCheck("sigmoid", x, d(dx), projection(r, out, () -> OPS.sigmoid(out, x)));
        Tensor dx2 = zeros(d, n);
        OPS.reluSquaredBackward(dx2, r, x);
        fdCheck("reluSquared", x, d(dx2), projection(r, out, () -> OPS.reluSquared(out, x)));
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void sums(DType d) {
        int n = 100_003; // several parallel blocks, odd tail
        Tensor x = rand(d, n), out = scalar(d, 7);
        double[] xv = d(x);
        double s = 0, s2 = 0;
        for (double v : xv) { s += v; s2 += v * v; }
        OPS.sum(out, x, false);
        close("sum " + d, new double[] {s}, d(out), tol(d));
        OPS.sum(out, x, true);
        close("sum acc " + d, new double[] {2 * s}, d(out), tol(d));
        OPS.sumSquares(out, x, false);
        close("sumSquares " + d, new double[] {s2}, d(out), tol(d));
        OPS.sumSquares(out, x, true);
        close("sumSquares acc " + d, new double[] {2 * s2}, d(out), tol(d));
    }

    @Test void tokenMask() {
        int[] tok = {5, 0, 5, 3, 5};
        Tensor tt = ints(tok, 5), out = zeros(DType.F32, 5);
        OPS.tokenMask(out, tt, 5, 0.0, 1.0);
        double[] got = d(out);
        for (int i = 0; i < 5; i++) assertEquals(tok[i] == 5 ? 0.0 : 1.0, got[i]);
    }

    @Test void errorsNameTheArgumentAndShape() {
        Tensor x = zeros(DType.F32, 3), y = zeros(DType.F32, 4);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OPS.add(x, x, y));
        assertTrue(e.getMessage().contains("y") && e.getMessage().contains("[4]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OPS.sigmoid(x, zeros(DType.I32, 3)));
        assertTrue(e.getMessage().contains("x") && e.getMessage().contains("I32"), e.getMessage());
    }
}
