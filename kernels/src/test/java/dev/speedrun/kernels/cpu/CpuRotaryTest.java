package dev.speedrun.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Rotary and key shift: forward, backward, aliasing, finite differences. */
class CpuRotaryTest extends OpTestSupport {

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

    @Test void rotaryAndKeyShiftFiniteDifferences() {
        DType d = DType.F64;
        int T = 4, H = 2, D = 8;
        Tensor fr = rand(d, D / 2), x = rand(d, T, H, D), r = rand(d, T, H, D), out = zeros(d, T, H, D), dx = zeros(d, T, H, D);
        OPS.rotaryBackward(dx, r, fr);
        fdCheck("rotary", x, d(dx), projection(r, out, () -> OPS.rotary(out, x, fr)));
        Tensor dk = zeros(d, T, H, D);
        OPS.keyShiftBackward(dk, r);
        fdCheck("keyShift", x, d(dk), projection(r, out, () -> OPS.keyShift(out, x)));
    }
}
