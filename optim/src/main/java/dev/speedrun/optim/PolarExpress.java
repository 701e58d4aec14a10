package dev.speedrun.optim;

import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.Tensor;

/**
 * Polar Express orthogonalisation (spec §5.3) through the op contract:
 * {@code X /= (‖X‖_F·1.02 + 1e-6)}, then for each coefficient triple (a, b, c):
 * {@code A = X Xᵀ; B = b·A + c·A·A; X = a·X + B·X}. A tall matrix (rows > cols) is handled as its
 * transpose without moving data, through the GEMM transpose flags:
 * {@code A = XᵀX; X = a·X + X·Bᵀ} (the transpose of the wide iteration).
 */
public final class PolarExpress {
    private PolarExpress() {}

    /** The record's five (a, b, c) triples. */
    public static final double[][] COEFFICIENTS = {
        {8.156554524902461, -22.48329292557795, 15.878769915207462},
        {4.042929935166739, -2.808917465908714, 0.5000178451051316},
        {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
        {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
        {2.3465413258596377, -1.7097828382687081, 0.42323551169305323},
    };
    public static final double NORM_FACTOR = 1.02;
    public static final double NORM_EPS = 1e-6;

    /** Side of the Gram matrices for a [rows, cols] input: min(rows, cols). */
    public static long gramSize(long rows, long cols) { return Math.min(rows, cols); }

    /**
     * Orthogonalises each matrix of {@code x} in place.
     * @param x   [B, R, C] input and output
     * @param tmp [B, R, C] scratch (same dtype)
     * @param a   [B, K, K] scratch, K = min(R, C)
     * @param b   [B, K, K] scratch
     */
    public static void apply(Ops ops, Tensor x, Tensor tmp, Tensor a, Tensor b) {
        long rows = x.dim(1), cols = x.dim(2);
        boolean tall = rows > cols;
        ops.frobeniusNormalize(x, x, NORM_FACTOR, NORM_EPS);
        Tensor cur = x, next = tmp;
        for (double[] k : COEFFICIENTS) {
            if (tall) ops.matmul(a, cur, cur, true, false, 1, 0);   // A = XᵀX  [B,C,C]
            else ops.matmul(a, cur, cur, false, true, 1, 0);        // A = XXᵀ  [B,R,R]
            ops.convert(b, a);
            ops.matmul(b, a, a, false, false, k[2], k[1]);          // B = b·A + c·A·A
            ops.convert(next, cur);
            if (tall) ops.matmul(next, cur, b, false, true, 1, k[0]); // X = a·X + X·Bᵀ
            else ops.matmul(next, b, cur, false, false, 1, k[0]);     // X = a·X + B·X
            Tensor t = cur;
            cur = next;
            next = t;
        }
        if (cur != x) ops.convert(x, cur);
    }
}
