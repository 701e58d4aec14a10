package dev.speedrun.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Embedding, RMS norm, rotary, key shift, head gate and smear: forward, backward, finite differences. */
class LayerOpsTest extends OpTestSupport {

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void embedding(DType d) {
        int V = 11, C = 5;
        int[] tok = {3, 0, 10, 3, 3, 7, 1};
        int T = tok.length;
        Tensor table = rand(d, V, C), tt = ints(tok, T), out = zeros(d, T, C);
        OPS.embedding(out, table, tt);
        double[] tv = d(table), e = new double[T * C];
        for (int t = 0; t < T; t++) for (int c = 0; c < C; c++) e[t * C + c] = tv[tok[t] * C + c];
        close("embedding " + d, e, d(out), tol(d));

        Tensor g = rand(d, T, C), dt = rand(d, V, C);
        double[] dt0 = d(dt), gv = d(g), edt = new double[V * C];
        OPS.embeddingBackward(dt, g, tt);
        for (int t = 0; t < T; t++) for (int c = 0; c < C; c++) edt[tok[t] * C + c] += gv[t * C + c];
        close("embeddingBackward " + d, edt, minus(d(dt), dt0), tol(d));

        var ex = assertThrows(IllegalArgumentException.class, () -> OPS.embedding(out, table, ints(new int[] {0, 1, 2, 11, 0, 0, 0}, T)));
        assertTrue(ex.getMessage().contains("11") && ex.getMessage().contains("position 3"), ex.getMessage());
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void rmsNorm(DType d) {
        for (int[] rc : new int[][] {{1, 1}, {3, 7}, {16, 33}}) {
            int R = rc[0], C = rc[1];
            Tensor x = t(d, uniform(R * C, -3, 3), R, C), out = zeros(d, R, C), rr = zeros(d, R);
            double[] xv = d(x);
            OPS.rmsNorm(out, rr, x);
            double[][] ref = Reference.rmsNorm(xv, R, C, d.epsilon());
            close("rmsNorm y " + d, ref[0], d(out), tol(d));
            close("rmsNorm rrms " + d, ref[1], d(rr), tol(d));
            Tensor g = rand(d, R, C), dx = rand(d, R, C);
            double[] dx0 = d(dx);
            OPS.rmsNormBackward(dx, g, x, rr);
            // the gradient is O(1)·rrms; at C = 1 it is exactly 0 up to eps, so judge against that scale
            double[] rrv = d(rr);
            close("rmsNormBackward " + d, Reference.rmsNormBackward(d(g), xv, R, C, d.epsilon()), minus(d(dx), dx0), tol(d), rrv[0]);
            OPS.rmsNorm(x, rr, x); // in place
            close("rmsNorm in place " + d, ref[0], d(x), tol(d));
        }
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void rotaryAndKeyShift(DType d) {
        for (int[] s : new int[][] {{1, 1, 4}, {5, 3, 8}, {37, 2, 12}}) {
            int T = s[0], H = s[1], D = s[2], n = T * H * D;
            double[] f = new double[D / 2];
            for (int j = 0; j < D / 4; j++) f[j] = Math.pow(1.0 / 1024, j / Math.max(1.0, D / 4 - 1.0));
            Tensor fr = t(d, f, D / 2), x = rand(d, T, H, D), out = zeros(d, T, H, D);
            double[] fv = d(fr), xv = d(x);
            OPS.rotary(out, x, fr);
            close("rotary " + d, Reference.rotary(xv, T, H, D, fv, 1), d(out), tol(d));
            Tensor g = rand(d, T, H, D), dx = rand(d, T, H, D);
            double[] dx0 = d(dx);
            OPS.rotaryBackward(dx, g, fr);
            close("rotaryBackward " + d, Reference.rotary(d(g), T, H, D, fv, -1), minus(d(dx), dx0), tol(d));
            OPS.rotary(x, x, fr); // in place
            close("rotary in place " + d, Reference.rotary(xv, T, H, D, fv, 1), d(x), tol(d));

            Tensor y = t(d, xv, T, H, D), ks = zeros(d, T, H, D);
            OPS.keyShift(ks, y);
            close("keyShift " + d, Reference.keyShift(xv, T, H, D), d(ks), tol(d));
            dx0 = d(dx);
            OPS.keyShiftBackward(dx, g);
            close("keyShiftBackward " + d, Reference.keyShiftBackward(d(g), T, H, D), minus(d(dx), dx0), tol(d));
            assertThrows(IllegalArgumentException.class, () -> OPS.keyShift(y, y));
        }
    }

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

    @Test void finiteDifferences() {
        DType d = DType.F64;
        // embedding
        {
            int V = 6, C = 3;
            int[] tok = {2, 5, 2, 0};
            Tensor table = rand(d, V, C), tt = ints(tok, 4), r = rand(d, 4, C), out = zeros(d, 4, C), dt = zeros(d, V, C);
            OPS.embeddingBackward(dt, r, tt);
            double[] rv = d(r);
            fdCheck("embedding", table, d(dt), () -> { OPS.embedding(out, table, tt); return dot(rv, d(out)); });
        }
        // rms norm
        {
            int R = 3, C = 5;
            Tensor x = rand(d, R, C), r = rand(d, R, C), out = zeros(d, R, C), rr = zeros(d, R), dx = zeros(d, R, C);
            OPS.rmsNorm(out, rr, x);
            OPS.rmsNormBackward(dx, r, x, rr);
            double[] rv = d(r);
            Tensor o2 = zeros(d, R, C), r2 = zeros(d, R);
            fdCheck("rmsNorm", x, d(dx), () -> { OPS.rmsNorm(o2, r2, x); return dot(rv, d(o2)); });
        }
        // rotary and key shift
        {
            int T = 4, H = 2, D = 8;
            Tensor fr = rand(d, D / 2), x = rand(d, T, H, D), r = rand(d, T, H, D), out = zeros(d, T, H, D), dx = zeros(d, T, H, D);
            double[] rv = d(r);
            OPS.rotaryBackward(dx, r, fr);
            fdCheck("rotary", x, d(dx), () -> { OPS.rotary(out, x, fr); return dot(rv, d(out)); });
            Tensor dk = zeros(d, T, H, D);
            OPS.keyShiftBackward(dk, r);
            fdCheck("keyShift", x, d(dk), () -> { OPS.keyShift(out, x); return dot(rv, d(out)); });
        }
        // head gate
        {
            int T = 3, H = 2, D = 3, C = 5, G = 3;
            Tensor y = rand(d, T, H, D), x = rand(d, T, C), w = rand(d, H, G), r = rand(d, T, H, D);
            Tensor out = zeros(d, T, H, D), gate = zeros(d, T, H), g2 = zeros(d, T, H);
            OPS.headGate(out, gate, y, x, w);
            Tensor dy = zeros(d, T, H, D), dx = zeros(d, T, C), dw = zeros(d, H, G);
            OPS.headGateBackward(dy, dx, dw, r, y, x, w, gate);
            double[] rv = d(r);
            DoubleSupplier loss = () -> { OPS.headGate(out, g2, y, x, w); return dot(rv, d(out)); };
            fdCheck("headGate y", y, d(dy), loss);
            fdCheck("headGate x", x, d(dx), loss);
            fdCheck("headGate w", w, d(dw), loss);
        }
        // smear
        {
            int T = 5, C = 4, G = 3;
            Tensor x = rand(d, T, C), w = rand(d, G), lam = scalar(d, 0.7), r = rand(d, T, C);
            Tensor out = zeros(d, T, C), gate = zeros(d, T), g2 = zeros(d, T);
            OPS.smear(out, gate, x, w, lam);
            Tensor dx = zeros(d, T, C), dw = zeros(d, G), dl = scalar(d, 0);
            OPS.smearBackward(dx, dw, dl, r, x, w, lam, gate);
            double[] rv = d(r);
            DoubleSupplier loss = () -> { OPS.smear(out, g2, x, w, lam); return dot(rv, d(out)); };
            fdCheck("smear x", x, d(dx), loss);
            fdCheck("smear w", w, d(dw), loss);
            fdCheck("smear lambda", lam, d(dl), loss);
        }
    }
}
