package dev.speedrun.testsupport;

/** The float64 triple-loop GEMM every GEMM test compares with (row-major, strided batches). */
public final class ReferenceGemm {
    private ReferenceGemm() {}

    /**
     * {@code alpha · op(a) · op(b) + beta · old} per batch, op = transpose when the flag is set.
     * a [batches, m, k] ([batches, k, m] if tA), b [batches, k, n] ([batches, n, k] if tB),
     * old and the result [batches, m, n]; beta = 0 ignores {@code old} (which may then be anything).
     */
    public static double[] matmul(double[] a, double[] b, double[] old, int batches, int m, int n, int k,
                                  boolean tA, boolean tB, double alpha, double beta) {
        double[] c = new double[batches * m * n];
        for (int z = 0; z < batches; z++)
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        double x = tA ? a[z * k * m + p * m + i] : a[z * m * k + i * k + p];
                        double y = tB ? b[z * n * k + j * k + p] : b[z * k * n + p * n + j];
                        s += x * y;
                    }
                    int idx = z * m * n + i * n + j;
                    c[idx] = alpha * s + (beta == 0 ? 0 : beta * old[idx]);
                }
        return c;
    }
}
