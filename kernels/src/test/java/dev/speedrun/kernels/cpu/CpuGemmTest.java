package dev.speedrun.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.speedrun.tensor.CpuBackend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.ReferenceGemm;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * CpuGemm against a float64 triple loop. Tolerances follow the usual GEMM error bound
 * |C − Ĉ| ≤ γ·(K+2)·u·(|α|·|op(A)|·|op(B)| + |β|·|C|), u the unit roundoff of the dtype.
 */
class CpuGemmTest {
    private MemoryArena arena;

    @BeforeEach void open() { arena = new MemoryArena(new CpuBackend()); }

    @AfterEach void close() { arena.close(); }

    /** (M, N, K) triples: single element, odd, exact tiles, K over one pass, M and N over one tile. */
    private static final int[][] SIZES = {
            {1, 1, 1}, {1, 7, 3}, {5, 1, 9}, {3, 4, 1}, {7, 5, 3}, {13, 17, 19},
            {6, 16, 64}, {12, 32, 8}, {37, 41, 300}, {150, 20, 600}, {2, 70, 513},
    };

    private static final boolean[][] TRANSPOSES = {{false, false}, {false, true}, {true, false}, {true, true}};

    @ParameterizedTest(name = "{0}, scalar path")
    @ValueSource(strings = {"F32", "F64"})
    void smallAndOddSizesScalar(String dtype) {
        for (int[] s : SIZES) for (boolean[] t : TRANSPOSES)
            check(DType.valueOf(dtype), 1, s[0], s[1], s[2], t[0], t[1], 1.0, 0.0, true, 11);
    }

    @ParameterizedTest(name = "{0}, default path")
    @ValueSource(strings = {"F32", "F64"})
    void smallAndOddSizesDefault(String dtype) {
        for (int[] s : SIZES) for (boolean[] t : TRANSPOSES)
            check(DType.valueOf(dtype), 1, s[0], s[1], s[2], t[0], t[1], 1.0, 0.0, false, 12);
    }

    /** Large enough to be cut into items on the thread pool and to span several M, K and N blocks. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"F32", "F64"})
    void moderatelyLargeAllTransposes(String dtype) {
        for (boolean[] t : TRANSPOSES)
            check(DType.valueOf(dtype), 1, 257, 131, 199, t[0], t[1], 1.0, 0.0, false, 13);
        check(DType.valueOf(dtype), 1, 300, 4100, 17, false, true, 1.0, 0.0, false, 14); // N over one NC panel
    }

    @Test void moderatelyLargeScalarPath() {
        check(DType.F32, 1, 257, 131, 199, true, true, 0.75, 0.5, true, 15);
        check(DType.F64, 1, 257, 131, 199, false, false, 0.75, 0.5, true, 16);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"F32", "F64"})
    void batched(String dtype) {
        DType dt = DType.valueOf(dtype);
        for (boolean[] t : TRANSPOSES) {
            check(dt, 3, 29, 35, 23, t[0], t[1], 1.0, 0.0, false, 20);
            check(dt, 3, 29, 35, 23, t[0], t[1], -0.5, 2.0, true, 21);
        }
        // Batches that divide among threads, and batches that do not (then each matrix is cut too).
        check(dt, 2, 100, 150, 90, false, true, 1.0, 1.0, false, 22);
        check(dt, 3, 100, 150, 90, true, false, 1.0, 0.0, false, 23);
        check(dt, 1, 64, 48, 32, false, false, 1.0, 0.0, false, 24);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"F32", "F64"})
    void alphaAndBeta(String dtype) {
        DType dt = DType.valueOf(dtype);
        for (boolean scalar : new boolean[] {false, true}) {
            check(dt, 1, 19, 23, 300, false, false, 0.5, -1.5, scalar, 30);  // beta on the first K pass only
            check(dt, 1, 19, 23, 29, true, true, 1.0, 1.0, scalar, 31);      // accumulate
            check(dt, 1, 19, 23, 29, false, true, 0.0, 0.25, scalar, 32);    // alpha = 0 scales out
            check(dt, 2, 70, 90, 200, true, false, -2.0, 0.5, scalar, 33);
        }
    }

    /** beta = 0 must ignore old contents, even NaN and infinities. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"F32", "F64"})
    void betaZeroIgnoresNaN(String dtype) {
        DType dt = DType.valueOf(dtype);
        for (boolean scalar : new boolean[] {false, true})
            for (int[] s : new int[][] {{7, 9, 5}, {257, 131, 199}, {4, 4, 0}}) {
                Tensor a = random(dt, new SplittableRandom(40), s[0], s[2]);
                Tensor b = random(dt, new SplittableRandom(41), s[2], s[1]);
                Tensor out = arena.allocate(dt, s[0], s[1]);
                double[] poison = new double[s[0] * s[1]];
                for (int i = 0; i < poison.length; i++) poison[i] = i % 2 == 0 ? Double.NaN : Double.NEGATIVE_INFINITY;
                HostData.write(out, poison);
                CpuGemm.matmul(out, a, b, false, false, 1.5, 0.0, scalar);
                double[] want = reference(HostData.toDoubles(a), HostData.toDoubles(b), new double[poison.length],
                        1, s[0], s[1], s[2], false, false, 1.5, 0.0);
                assertClose(dt, want, HostData.toDoubles(out), absReference(a, b, out, 1, s[0], s[1], s[2], false, false, 1.5, 0.0, poison), s[2],
                        "beta=0 over NaN " + Arrays.toString(s) + (scalar ? " scalar" : ""));
            }
    }

    /** K = 0: op(a)·op(b) is the zero matrix, so out = beta·out. */
    @Test void emptyInnerDimension() {
        for (DType dt : new DType[] {DType.F32, DType.F64}) {
            check(dt, 1, 5, 7, 0, false, false, 1.0, 0.0, false, 50);
            check(dt, 2, 5, 7, 0, true, true, 1.0, 3.0, false, 51);
            check(dt, 1, 5, 7, 0, false, true, 1.0, -1.0, true, 52);
        }
    }

    /** M = 0 or N = 0: nothing to compute, nothing to fail. */
    @Test void emptyOutput() {
        check(DType.F32, 1, 0, 7, 5, false, false, 1.0, 0.0, false, 60);
        check(DType.F64, 1, 5, 0, 5, true, true, 1.0, 0.0, false, 61);
        check(DType.F32, 0, 5, 7, 5, false, false, 1.0, 0.0, false, 62);
    }

    @Test void stridedViewsIntoLargerStorage() {
        // Operands placed at odd element offsets of one buffer: byte offsets that are not vector aligned.
        Tensor big = arena.allocate(DType.F32, 3 * 1000 + 7);
        Tensor a = big.view(1, 23, 31);
        Tensor b = big.view(1000 + 3, 31, 17);
        Tensor out = big.view(2000 + 5, 23, 17);
        SplittableRandom r = new SplittableRandom(70);
        double[] all = new double[(int) big.numel()];
        for (int i = 0; i < all.length; i++) all[i] = r.nextDouble(-1, 1);
        HostData.write(big, all);
        double[] old = HostData.toDoubles(out);
        CpuGemm.matmul(out, a, b, false, false, 1.0, 0.5);
        double[] want = reference(HostData.toDoubles(a), HostData.toDoubles(b), old, 1, 23, 17, 31, false, false, 1.0, 0.5);
        assertClose(DType.F32, want, HostData.toDoubles(out), absReference(a, b, out, 1, 23, 17, 31, false, false, 1.0, 0.5, old), 31, "views");
    }

    @Test void rejectsBadArguments() {
        Tensor a = arena.allocate(DType.F32, 4, 3), b = arena.allocate(DType.F32, 3, 5), out = arena.allocate(DType.F32, 4, 5);
        var e = assertThrows(IllegalArgumentException.class,
                () -> CpuGemm.matmul(arena.allocate(DType.F64, 4, 5), a, b, false, false, 1, 0));
        assertTrue(e.getMessage().contains("F64 × F64"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CpuGemm.matmul(out, arena.allocate(DType.I32, 4, 3), b, false, false, 1, 0));
        assertTrue(e.getMessage().contains("F32/BF16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> CpuGemm.matmul(out, a, b, true, false, 1, 0));
        assertTrue(e.getMessage().contains("shapes do not agree"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CpuGemm.matmul(out, a, arena.allocate(DType.F64, 3, 5), false, false, 1, 0));
        assertTrue(e.getMessage().contains("F32/BF16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CpuGemm.matmul(out.reshape(1, 4, 5), a, b, false, false, 1, 0));
        assertTrue(e.getMessage().contains("2-D"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> CpuGemm.matmul(arena.allocate(DType.F32, 2, 4, 5), arena.allocate(DType.F32, 3, 4, 3),
                        arena.allocate(DType.F32, 2, 3, 5), false, false, 1, 0));
        assertTrue(e.getMessage().contains("batch"), e.getMessage());
        Tensor sq = arena.allocate(DType.F32, 4, 4);
        e = assertThrows(IllegalArgumentException.class, () -> CpuGemm.matmul(sq, sq, sq, false, false, 1, 0));
        assertTrue(e.getMessage().contains("overlap"), e.getMessage());
    }

    /**
     * BF16 inputs are widened exactly while packing, so the F32 bound holds against the float64
     * product of the BF16 values; a BF16 out adds one rounding of at most half a BF16 ulp
     * (2^-8 of the value at most: 8 significant bits) of the F32 result.
     */
    @Test void bf16InputsAndOutputs() {
        DType[][] combos = {{DType.BF16, DType.BF16, DType.F32}, {DType.BF16, DType.BF16, DType.BF16},
                {DType.BF16, DType.F32, DType.F32}, {DType.F32, DType.BF16, DType.BF16}};
        int[][] sizes = {{1, 1, 1}, {7, 5, 3}, {37, 41, 300}, {150, 20, 600}};
        long seed = 40;
        for (DType[] c : combos) for (int[] sz : sizes) for (boolean[] t : TRANSPOSES) for (double beta : new double[] {0, 0.5})
            for (boolean scalar : new boolean[] {true, false}) {
                int m = sz[0], n = sz[1], k = sz[2];
                SplittableRandom rnd = new SplittableRandom(seed++);
                Tensor a = random(c[0], rnd, t[0] ? k : m, t[0] ? m : k);
                Tensor b = random(c[1], rnd, t[1] ? n : k, t[1] ? k : n);
                Tensor out = random(c[2], rnd, m, n);
                double[] old = HostData.toDoubles(out);
                CpuGemm.matmul(out, a, b, t[0], t[1], 1.0, beta, scalar);
                double[] want = reference(HostData.toDoubles(a), HostData.toDoubles(b), old, 1, m, n, k, t[0], t[1], 1.0, beta);
                double[] bound = absReference(a, b, out, 1, m, n, k, t[0], t[1], 1.0, beta, old);
                double[] got = HostData.toDoubles(out);
                double tol = 4 * (k + 2) * 0x1p-24;
                for (int i = 0; i < want.length; i++) {
                    double allowed = tol * bound[i] + (c[2] == DType.BF16 ? 0x1p-8 * (Math.abs(want[i]) + tol * bound[i]) : 0) + Double.MIN_NORMAL;
                    if (!(Math.abs(want[i] - got[i]) <= allowed))
                        fail(Arrays.toString(c) + " M=" + m + " N=" + n + " K=" + k + " tA=" + t[0] + " tB=" + t[1] + " beta=" + beta
                                + (scalar ? " scalar" : "") + ": element " + i + " is " + got[i] + ", want " + want[i]);
                }
            }
    }

    @Test void describesItsPath() {
        String d = CpuGemm.describe();
        assertTrue(d.contains("thread"), d);
        assertEquals(CpuGemm.vectorized(), d.startsWith("vector"), d);
    }

    // ------------------------------------------------------------------ helpers

    private void check(DType dt, int batches, int m, int n, int k, boolean tA, boolean tB,
                       double alpha, double beta, boolean scalar, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Tensor a = batches == 1 ? random(dt, rnd, tA ? k : m, tA ? m : k) : random(dt, rnd, batches, tA ? k : m, tA ? m : k);
        Tensor b = batches == 1 ? random(dt, rnd, tB ? n : k, tB ? k : n) : random(dt, rnd, batches, tB ? n : k, tB ? k : n);
        Tensor out = batches == 1 ? random(dt, rnd, m, n) : random(dt, rnd, batches, m, n);
        double[] old = HostData.toDoubles(out);
        CpuGemm.matmul(out, a, b, tA, tB, alpha, beta, scalar);
        double[] want = reference(HostData.toDoubles(a), HostData.toDoubles(b), old, batches, m, n, k, tA, tB, alpha, beta);
        double[] bound = absReference(a, b, out, batches, m, n, k, tA, tB, alpha, beta, old);
        assertClose(dt, want, HostData.toDoubles(out), bound, k,
                dt + " B=" + batches + " M=" + m + " N=" + n + " K=" + k + " tA=" + tA + " tB=" + tB
                        + " alpha=" + alpha + " beta=" + beta + (scalar ? " scalar" : " default"));
    }

    private Tensor random(DType dt, SplittableRandom rnd, long... dims) {
        Tensor t = arena.allocate(dt, dims);
        double[] v = new double[(int) t.numel()];
        for (int i = 0; i < v.length; i++) v[i] = rnd.nextDouble(-1, 1);
        HostData.write(t, v);
        return t;
    }

    /** float64 triple loop over op(a), op(b); beta = 0 ignores old. */
    static double[] reference(double[] a, double[] b, double[] old, int batches, int m, int n, int k,
                              boolean tA, boolean tB, double alpha, double beta) {
        return ReferenceGemm.matmul(a, b, old, batches, m, n, k, tA, tB, alpha, beta);
    }

    /** The same product over absolute values: the scale of the rounding error of each entry. */
    private static double[] absReference(Tensor a, Tensor b, Tensor out, int batches, int m, int n, int k,
                                         boolean tA, boolean tB, double alpha, double beta, double[] old) {
        double[] aa = HostData.toDoubles(a), bb = HostData.toDoubles(b), oo = old.clone();
        for (int i = 0; i < aa.length; i++) aa[i] = Math.abs(aa[i]);
        for (int i = 0; i < bb.length; i++) bb[i] = Math.abs(bb[i]);
        for (int i = 0; i < oo.length; i++) oo[i] = Math.abs(oo[i]);
        return reference(aa, bb, oo, batches, m, n, k, tA, tB, Math.abs(alpha), Math.abs(beta));
    }

    private static void assertClose(DType dt, double[] want, double[] got, double[] scale, int k, String what) {
        assertEquals(want.length, got.length, what + ": length");
        double u = dt == DType.F32 ? 0x1p-24 : 0x1p-53;
        double tol = 4 * (k + 2) * u;
        for (int i = 0; i < want.length; i++) {
            double err = Math.abs(want[i] - got[i]);
            if (!(err <= tol * scale[i] + Double.MIN_NORMAL))
                fail(what + ": element " + i + " is " + got[i] + ", want " + want[i] + " (error " + err
                        + " > " + tol * scale[i] + ")");
        }
    }
}
