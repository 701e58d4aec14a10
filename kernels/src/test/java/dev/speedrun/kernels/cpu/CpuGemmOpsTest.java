package dev.speedrun.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

class CpuGemmOpsTest extends OpTestSupport {

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void allTransposesAndBatches(DType d) {
        int[][] sizes = {{1, 1, 1}, {3, 5, 7}, {17, 1, 9}, {33, 65, 31}, {64, 130, 70}};
        for (int[] s : sizes)
            for (int batch : new int[] {0, 1, 3}) // 0 = 2-D
                for (int f = 0; f < 4; f++) {
                    boolean ta = (f & 1) != 0, tb = (f & 2) != 0;
                    int M = s[0], K = s[1], N = s[2], B = Math.max(1, batch);
                    Tensor a = batch == 0 ? (ta ? rand(d, K, M) : rand(d, M, K)) : (ta ? rand(d, B, K, M) : rand(d, B, M, K));
                    Tensor b = batch == 0 ? (tb ? rand(d, N, K) : rand(d, K, N)) : (tb ? rand(d, B, N, K) : rand(d, B, K, N));
                    Tensor out = batch == 0 ? rand(d, M, N) : rand(d, B, M, N);
                    double[] av = d(a), bv = d(b), ov = d(out);
                    double alpha = 0.75, beta = f == 3 ? 0 : -0.5;
                    OPS.matmul(out, a, b, ta, tb, alpha, beta);
                    double[] e = new double[B * M * N];
                    for (int bi = 0; bi < B; bi++) {
                        double[] r = Reference.matmul(java.util.Arrays.copyOfRange(av, bi * M * K, (bi + 1) * M * K),
                                java.util.Arrays.copyOfRange(bv, bi * K * N, (bi + 1) * K * N), M, K, N, ta, tb);
                        for (int i = 0; i < M * N; i++) e[bi * M * N + i] = alpha * r[i] + beta * ov[bi * M * N + i];
                    }
                    // The fast F32 GEMM accumulates in F32 (vector FMAs): rounding grows like sqrt(K).
                    close("matmul " + d, e, d(out), d == DType.F32 ? tol(d) * Math.sqrt(K) : tol(d));
                }
    }

    @Test void betaZeroIgnoresNaN() {
        Tensor a = rand(DType.F32, 4, 3), b = rand(DType.F32, 3, 5), out = zeros(DType.F32, 4, 5);
        OPS.fill(out, Double.NaN);
        OPS.matmul(out, a, b, false, false, 1, 0);
        for (double v : d(out)) assertTrue(Double.isFinite(v));
    }

    @Test void shapeMismatchNamesShapes() {
        Tensor a = rand(DType.F32, 4, 3), b = rand(DType.F32, 4, 5), out = zeros(DType.F32, 4, 5);
        var e = assertThrows(IllegalArgumentException.class, () -> OPS.matmul(out, a, b, false, false, 1, 0));
        assertTrue(e.getMessage().contains("[4, 3]") && e.getMessage().contains("[4, 5]"), e.getMessage());
    }
}
