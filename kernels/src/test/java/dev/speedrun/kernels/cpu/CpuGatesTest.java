package dev.speedrun.kernels.cpu;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Head gate and smear: forward, backward, finite differences. */
class CpuGatesTest extends OpTestSupport {

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void headGate(DType d) {
        int T = 7, H = 3, D = 5, C = 9, G = 4;
        Tensor y = rand(d, T, H, D), x = t(d, uniform(T * C, -2, 2), T, C), w = t(d, uniform(H * G, -2, 2), H, G);
        Tensor out = zeros(d, T, H, D), gate = zeros(d, T, H);
        OPS.headGate(out, gate, y, x, w);
        double[][] ref = Reference.headGate(d(y), d(x), d(w), T, H, D, C, G);
        close("headGate out " + d, ref[0], d(out), tol(d));
        close("headGate gate " + d, ref[1], d(gate), tol(d));
        Tensor g = rand(d, T, H, D), dy = rand(d, T, H, D), dx = rand(d, T, C), dw = rand(d, H, G);
        double[] dy0 = d(dy), dx0 = d(dx), dw0 = d(dw);
        OPS.headGateBackward(dy, dx, dw, g, y, x, w, gate);
        double[][] rb = Reference.headGateBackward(d(g), d(y), d(x), d(w), T, H, D, C, G);
        close("headGateBackward dy " + d, rb[0], minus(d(dy), dy0), tol(d));
        close("headGateBackward dx " + d, rb[1], minus(d(dx), dx0), tol(d));
        close("headGateBackward dw " + d, rb[2], minus(d(dw), dw0), tol(d));
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void smear(DType d) {
        for (int T : new int[] {1, 2, 9}) {
            int C = 6, G = 4;
            Tensor x = t(d, uniform(T * C, -2, 2), T, C), w = rand(d, 1, G), lam = scalar(d, 0.8);
            Tensor out = zeros(d, T, C), gate = zeros(d, T);
            OPS.smear(out, gate, x, w, lam);
            double lv = d(lam)[0];
            double[][] ref = Reference.smear(d(x), d(w), lv, T, C);
            close("smear out " + d, ref[0], d(out), tol(d));
            close("smear gate " + d, ref[1], d(gate), tol(d));
            Tensor g = rand(d, T, C), dx = rand(d, T, C), dw = rand(d, G), dl = scalar(d, 0.5);
            double[] dx0 = d(dx), dw0 = d(dw);
            OPS.smearBackward(dx, dw, dl, g, x, w, lam, gate);
            double[][] rb = Reference.smearBackward(d(g), d(x), d(w), lv, T, C);
            close("smearBackward dx " + d, rb[0], minus(d(dx), dx0), tol(d));
            close("smearBackward dw " + d, rb[1], minus(d(dw), dw0), tol(d));
            close("smearBackward dlambda " + d, rb[2], new double[] {d(dl)[0] - d(scalar(d, 0.5))[0]}, tol(d));
        }
    }

    /**
     * BF16 weight gradients (the record's BF16 gate weights in mixed precision): the call's sum
     * over the tokens (the reference's, in double) rounded to BF16, then added with one more
     * rounding; the activation gradients and dLambda (an F32 scalar) as in F32.
     */
    @Test void bf16WeightGradientsAddTheRoundedSum() {
        int T = 7, H = 3, D = 5, C = 9, G = 4;
        DType f = DType.F32, bf = DType.BF16;
        Tensor y = rand(f, T, H, D), x = t(f, uniform(T * C, -2, 2), T, C), w = t(f, uniform(H * G, -2, 2), H, G);
        Tensor out = zeros(f, T, H, D), gate = zeros(f, T, H);
        OPS.headGate(out, gate, y, x, w);
        Tensor g = rand(f, T, H, D), dy = zeros(f, T, H, D), dx = zeros(f, T, C), dw = rand(bf, H, G);
        double[] dw0 = d(dw);
        OPS.headGateBackward(dy, dx, dw, g, y, x, w, gate);
        double[] contrib = Reference.headGateBackward(d(g), d(y), d(x), d(w), T, H, D, C, G)[2];
        close("headGateBackward BF16 dw", addRounded(dw0, contrib), d(dw), 0);

        Tensor sx = t(f, uniform(T * C, -2, 2), T, C), sw = rand(f, 1, G), lam = scalar(f, 0.8), sout = zeros(f, T, C), sgate = zeros(f, T);
        OPS.smear(sout, sgate, sx, sw, lam);
        Tensor sg = rand(f, T, C), sdx = zeros(f, T, C), sdw = rand(bf, G), dl = scalar(f, 0.5);
        double[] sdw0 = d(sdw);
        OPS.smearBackward(sdx, sdw, dl, sg, sx, sw, lam, sgate);
        double[][] rb = Reference.smearBackward(d(sg), d(sx), d(sw), d(lam)[0], T, C);
        close("smearBackward BF16 dw", addRounded(sdw0, rb[1]), d(sdw), 0);
        close("smearBackward F32 dLambda", new double[] {(float) (0.5 + rb[2][0])}, d(dl), tol(f));
    }

    /** bf16(before + bf16(contribution)) per element. */
    private static double[] addRounded(double[] before, double[] contribution) {
        double[] r = new double[before.length];
        for (int i = 0; i < r.length; i++) {
            float c = dev.speedrun.tensor.BFloat16.round((float) contribution[i]);
            r[i] = dev.speedrun.tensor.BFloat16.round((float) (before[i] + c));
        }
        return r;
    }

    @Test void headGateFiniteDifferences() {
        DType d = DType.F64;
        int T = 3, H = 2, D = 3, C = 5, G = 3;
        Tensor y = rand(d, T, H, D), x = rand(d, T, C), w = rand(d, H, G), r = rand(d, T, H, D);
        Tensor out = zeros(d, T, H, D), gate = zeros(d, T, H), g2 = zeros(d, T, H);
        OPS.headGate(out, gate, y, x, w);
        Tensor dy = zeros(d, T, H, D), dx = zeros(d, T, C), dw = zeros(d, H, G);
        OPS.headGateBackward(dy, dx, dw, r, y, x, w, gate);
        DoubleSupplier loss = projection(r, out, () -> OPS.headGate(out, g2, y, x, w));
        fdCheck("headGate y", y, d(dy), loss);
        fdCheck("headGate x", x, d(dx), loss);
        fdCheck("headGate w", w, d(dw), loss);
    }

    @Test void smearFiniteDifferences() {
        DType d = DType.F64;
        int T = 5, C = 4, G = 3;
        Tensor x = rand(d, T, C), w = rand(d, G), lam = scalar(d, 0.7), r = rand(d, T, C);
        Tensor out = zeros(d, T, C), gate = zeros(d, T), g2 = zeros(d, T);
        OPS.smear(out, gate, x, w, lam);
        Tensor dx = zeros(d, T, C), dw = zeros(d, G), dl = scalar(d, 0);
        OPS.smearBackward(dx, dw, dl, r, x, w, lam, gate);
        DoubleSupplier loss = projection(r, out, () -> OPS.smear(out, g2, x, w, lam));
        fdCheck("smear x", x, d(dx), loss);
        fdCheck("smear w", w, d(dw), loss);
        fdCheck("smear lambda", lam, d(dl), loss);
    }
}
