package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.testsupport.ReferenceGemm;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The row-major → column-major mapping handed to cuBLASLt, checked by running a column-major
 * reference GEMM (BLAS semantics: op, m, n, k, leading dimensions, batch strides) on the plan and
 * comparing with a naive row-major product, for all transpose flags and a batch.
 */
class GemmPlanTest {
    /** Column-major D = op(A)·op(B), A/B/D flat arrays with leading dimensions, per batch. */
    static double[] colMajorGemm(GemmPlan p, double[] A, double[] B) {
        double[] D = new double[(int) (p.cLayout().batchStride() * p.batch())];
        for (int bt = 0; bt < p.batch(); bt++) {
            long oa = bt * p.aLayout().batchStride(), ob = bt * p.bLayout().batchStride(), od = bt * p.cLayout().batchStride();
            // op(A) is m×k, op(B) is k×n; stored matrices are rows×cols with element (r,c) at r + c·ld.
            assertEquals(p.opA() ? p.k() : p.m(), p.aLayout().rows());
            assertEquals(p.opB() ? p.n() : p.k(), p.bLayout().rows());
            for (int i = 0; i < p.m(); i++)
                for (int j = 0; j < p.n(); j++) {
                    double s = 0;
                    for (int l = 0; l < p.k(); l++) {
                        double a = p.opA() ? A[(int) (oa + l + i * p.aLayout().ld())] : A[(int) (oa + i + l * p.aLayout().ld())];
                        double b = p.opB() ? B[(int) (ob + j + l * p.bLayout().ld())] : B[(int) (ob + l + j * p.bLayout().ld())];
                        s += a * b;
                    }
                    D[(int) (od + i + j * p.cLayout().ld())] = s;
                }
        }
        return D;
    }

    @Test void planReproducesTheRowMajorProduct() {
        Random rnd = new Random(3);
        int batch = 2, M = 5, N = 3, K = 4;
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true}) {
                double[] a = new double[batch * M * K], b = new double[batch * K * N];
                for (int i = 0; i < a.length; i++) a[i] = rnd.nextGaussian();
                for (int i = 0; i < b.length; i++) b[i] = rnd.nextGaussian();
                GemmPlan plan = GemmPlan.of(new GemmShape(batch, M, N, K), ta, tb);
                assertEquals(N, plan.m());
                assertEquals(M, plan.n());
                assertEquals(tb, plan.opA());
                assertEquals(ta, plan.opB());
                // cuBLAS's A is our b, its B is our a; its column-major D is our row-major out.
                double[] out = colMajorGemm(plan, b, a);
                double[] want = ReferenceGemm.matmul(a, b, null, batch, M, N, K, ta, tb, 1, 0);
                assertArrayEquals(want, out, 1e-12, "transA=" + ta + " transB=" + tb);
            }
    }

    @Test void linearLayerIsTheTnFormFp8Needs() {
        // y[M,N] = x[M,K]·W[N,K]ᵀ: cuBLAS A = W with op T, B = x with op N (Hopper's FP8 "TN").
        GemmPlan p = GemmPlan.of(new GemmShape(1, 8, 16, 32), false, true);
        assertTrue(p.opA());
        assertTrue(!p.opB());
    }

    @Test void alignmentIsTheLargestPowerOfTwoUpTo256() {
        assertEquals(256, CublasLt.alignment(0x7f0000001000L));
        assertEquals(16, CublasLt.alignment(0x7f0000001010L));
        assertEquals(2, CublasLt.alignment(0x7f0000001002L));
        assertEquals(256, CublasLt.alignment(0));
    }

    @Test void cublasLtServesBf16AndF32Only() {
        assertTrue(CublasLtGemm.supported(dev.speedrun.tensor.DType.F32, dev.speedrun.tensor.DType.BF16, dev.speedrun.tensor.DType.BF16));
        assertTrue(CublasLtGemm.supported(dev.speedrun.tensor.DType.BF16, dev.speedrun.tensor.DType.BF16, dev.speedrun.tensor.DType.BF16));
        assertTrue(!CublasLtGemm.supported(dev.speedrun.tensor.DType.BF16, dev.speedrun.tensor.DType.F32, dev.speedrun.tensor.DType.F32));
        assertTrue(!CublasLtGemm.supported(dev.speedrun.tensor.DType.F32, dev.speedrun.tensor.DType.BF16, dev.speedrun.tensor.DType.F32));
        assertEquals(96, CublasLt.HEURISTIC_RESULT_BYTES);
        assertEquals(128, Nccl.UNIQUE_ID.byteSize());
    }
}
