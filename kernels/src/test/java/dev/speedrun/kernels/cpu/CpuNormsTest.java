package dev.speedrun.kernels.cpu;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** RMS norm: forward, backward, in place, finite differences. */
class CpuNormsTest extends OpTestSupport {

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

    @Test void rmsNormFiniteDifferences() {
        DType d = DType.F64;
        int R = 3, C = 5;
        Tensor x = rand(d, R, C), r = rand(d, R, C), out = zeros(d, R, C), rr = zeros(d, R), dx = zeros(d, R, C);
        OPS.rmsNorm(out, rr, x);
        OPS.rmsNormBackward(dx, r, x, rr);
        Tensor o2 = zeros(d, R, C), r2 = zeros(d, R);
        fdCheck("rmsNorm", x, d(dx), projection(r, o2, () -> OPS.rmsNorm(o2, r2, x)));
    }
}
