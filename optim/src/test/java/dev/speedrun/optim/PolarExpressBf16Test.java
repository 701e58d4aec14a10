package dev.speedrun.optim;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.cuda.emu.EmuBackend;
import dev.speedrun.kernels.cuda.emu.EmuLibrary;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.ParamSpec;
import dev.speedrun.tensor.BFloat16;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Polar Express in BF16 as the record's {@code polar_express} (BF16 operands, F32 accumulation,
 * every GEMM output rounded to BF16 once), on the CPU ops and on the emulated CUDA device, for the
 * fixture's matrix and one matrix of each shape NorMuon orthogonalises in the cpu-small preset
 * (an attn square block, an mlp matrix, an attn_gate), the shapes read from the model's specs.
 * The CPU and the emulated device agree bit for bit on these shapes (both accumulate in F32).
 *
 * <p>Against a float64 reference that applies the same roundings (computed here): the reference
 * sums exactly, the ops sum in F32 (CPU GEMM) or another order (cuBLASLt), so a sum lying within
 * F32 rounding of a BF16 rounding boundary can round the other way, one BF16 ulp (2^-8 relative)
 * in one element, which the remaining iterations carry on (measured: at most 1.9 ulps, and in
 * the tall mlp matrix, whose Gram sums run over 4× more terms, a quarter of the elements one ulp
 * off). Bounds: {@link #REF_ULPS} BF16 ulps (2u) of the element's magnitude plus the matrix's rms,
 * and a relative Frobenius difference of at most {@link #REF_FRO_U}·u (one ulp on average).
 *
 * <p>Against F32 Polar Express: BF16 rounds X, A and B in each of the five iterations (15
 * roundings of relative size u = 2^-9), and the iterations amplify a perturbation along a small
 * singular direction by up to their a coefficients (8.2, 4.0, 3.9, 3.3, 2.3; product ≈ 990 at
 * σ → 0), more so in small matrices where each singular direction carries much of the norm
 * (measured: 7–9 u for the 64-wide blocks, 37 u for the 8×5 fixture, 40 u for the 4×12 gate).
 * Bound {@link #F32_BOUND_U}·u = 1/4 relative: three times the worst measured, and below what a wrong
 * iteration gives (dropping the last iteration moves the float64 result by ≈ 0.4 relative on
 * these shapes).
 */
class PolarExpressBf16Test {
    /** BF16 unit roundoff. */
    static final double U = Math.scalb(1.0, -9);
    /** Elementwise bound against the rounding-aware float64 reference, in BF16 ulps (2u). */
    static final double REF_ULPS = 4;
    /** Relative Frobenius bound against the rounding-aware float64 reference, in units of u. */
    static final double REF_FRO_U = 2;
    /** Relative Frobenius bound against F32 Polar Express, in units of u (2^7 u = 1/4). */
    static final double F32_BOUND_U = 128;

    /** The test matrices: the fixture's, then one per NorMuon shape of cpu-small (seeded Gaussian values). */
    static Map<String, double[][]> cases() {
        Map<String, double[][]> m = new LinkedHashMap<>();
        JsonNode fx = TestTables.fixture("optimizers.json").get("polar_express");
        long[] d = TestTables.dims(fx.get("input"));
        m.put("fixture " + d[0] + "x" + d[1], matrix(TestTables.flat(fx.get("input")), (int) d[0], (int) d[1]));
        GptConfig cfg = GptConfig.preset("cpu-small");
        SplittableRandom r = new SplittableRandom(11);
        for (String label : List.of("attn", "mlp", "attn_gate")) {
            ParamSpec s = Gpt.specs(cfg, 1).stream().filter(p -> p.label().equals(label)).findFirst().orElseThrow();
            int rows = (int) s.shape().dim(0), cols = (int) s.shape().dim(1);
            if (label.equals("attn")) rows = cols;   // NorMuon takes attn as square blocks
            double[] v = new double[rows * cols];
            for (int i = 0; i < v.length; i++) v[i] = r.nextGaussian();
            m.put(label + " " + rows + "x" + cols, matrix(v, rows, cols));
        }
        return m;
    }

    @Test void bf16MatchesTheRoundingAwareReference() {
        for (var e : cases().entrySet()) {
            double[][] g = e.getValue();
            double[] got = run(Kernels.cpu(), DType.BF16, g), want = flat(reference(g));
            assertWithinUlps(e.getKey() + " CPU BF16 vs float64 reference", got, want);
        }
    }

    @Test void bf16StaysWithinABf16BoundOfF32() {
        for (var e : cases().entrySet()) {
            double[][] g = e.getValue();
            double[] bf = run(Kernels.cpu(), DType.BF16, g), f32 = run(Kernels.cpu(), DType.F32, g);
            double rel = froRel(bf, f32);
            System.out.printf("Polar Express %s: BF16 vs F32 relative Frobenius difference %.3e = %.1f u (bound %.0f u)%n",
                    e.getKey(), rel, rel / U, F32_BOUND_U);
            assertTrue(rel <= F32_BOUND_U * U, e.getKey() + ": BF16 vs F32 " + rel + " > " + F32_BOUND_U + "·2^-9");
            // and BF16 is really BF16: F32 Polar Express is far closer to the exact F64 one
            double f64rel = froRel(f32, run(Kernels.cpu(), DType.F64, g));
            assertTrue(f64rel < rel, e.getKey() + ": F32 vs F64 " + f64rel + " is not below BF16 vs F32 " + rel);
        }
    }

    @Test void emulatedDeviceMatchesTheReferenceAndTheCpu() {
        String why = EmuLibrary.problem(EmuLibrary.MAIN);
        assumeTrue(why.isEmpty(), "no emulated CUDA device: " + why);
        Ops emu = Kernels.ops(EmuBackend.NAME);
        for (var e : cases().entrySet()) {
            double[][] g = e.getValue();
            double[] got = run(emu, DType.BF16, g);
            assertWithinUlps(e.getKey() + " cuda-emu BF16 vs float64 reference", got, flat(reference(g)));
            assertWithinUlps(e.getKey() + " cuda-emu BF16 vs CPU BF16", got, run(Kernels.cpu(), DType.BF16, g));
        }
    }

    /** PolarExpress.apply on {@code ops} in {@code d}: the input rounded to d, as NorMuon converts its update. */
    static double[] run(Ops ops, DType d, double[][] g) {
        int rows = g.length, cols = g[0].length;
        long k = PolarExpress.gramSize(rows, cols);
        try (MemoryArena a = ops.backend().newArena()) {
            Tensor x = a.allocate(d, 1, rows, cols);
            HostData.write(x, flat(g));
            PolarExpress.apply(ops, x, a.allocate(d, 1, rows, cols), a.allocate(d, 1, k, k), a.allocate(d, 1, k, k));
            return HostData.toDoubles(x);
        }
    }

    /**
     * The record's BF16 Polar Express in float64 with its roundings: X = bf16(G); a tall X is
     * transposed; X = bf16(X / (‖X‖·1.02 + 1e-6)); per (a, b, c): A = bf16(X·Xᵀ),
     * B = bf16(c·A·A + b·A), X = bf16(a·X + B·X); transposed back.
     */
    static double[][] reference(double[][] g) {
        boolean tall = g.length > g[0].length;
        double[][] x = tall ? transpose(g) : copy(g);
        round(x);
        double ss = 0;
        for (double[] row : x) for (double v : row) ss += v * v;
        double inv = 1.0 / (Math.sqrt(ss) * PolarExpress.NORM_FACTOR + PolarExpress.NORM_EPS);
        for (double[] row : x) for (int j = 0; j < row.length; j++) row[j] = bf16(row[j] * inv);
        for (double[] k : PolarExpress.COEFFICIENTS) {
            double[][] a = multiply(x, transpose(x));
            round(a);
            double[][] aa = multiply(a, a), b = new double[a.length][a.length];
            for (int i = 0; i < a.length; i++) for (int j = 0; j < a.length; j++) b[i][j] = bf16(k[2] * aa[i][j] + k[1] * a[i][j]);
            double[][] bx = multiply(b, x);
            for (int i = 0; i < x.length; i++) for (int j = 0; j < x[0].length; j++) x[i][j] = bf16(k[0] * x[i][j] + bx[i][j]);
        }
        return tall ? transpose(x) : x;
    }

    /** |got − want| ≤ REF_ULPS·2u·(|want| + rms(want)) everywhere, and ‖got − want‖/‖want‖ ≤ REF_FRO_U·u. */
    static void assertWithinUlps(String what, double[] got, double[] want) {
        double ss = 0;
        for (double v : want) ss += v * v;
        double rms = Math.sqrt(ss / want.length), worst = 0;
        int equal = 0;
        List<String> bad = new ArrayList<>();
        for (int i = 0; i < want.length; i++) {
            double ulps = Math.abs(got[i] - want[i]) / (2 * U * (Math.abs(want[i]) + rms));
            worst = Math.max(worst, ulps);
            if (got[i] == want[i]) equal++;
            if (!(ulps <= REF_ULPS) && bad.size() < 3) bad.add("element " + i + ": " + got[i] + " vs " + want[i]);
        }
        double fro = froRel(got, want);
        System.out.printf("%s: worst %.2f BF16 ulps, %d of %d elements equal, relative Frobenius %.2f u%n", what, worst, equal,
                want.length, fro / U);
        assertTrue(bad.isEmpty(), what + ": elements beyond " + REF_ULPS + " BF16 ulps: " + bad);
        assertTrue(fro <= REF_FRO_U * U, what + ": relative Frobenius difference " + fro / U + " u > " + REF_FRO_U + " u");
    }

    /** ‖a − b‖_F / ‖b‖_F. */
    static double froRel(double[] a, double[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - b[i]) * (a[i] - b[i]);
            den += b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }

    static double bf16(double v) { return BFloat16.round((float) v); }

    static void round(double[][] m) { for (double[] row : m) for (int j = 0; j < row.length; j++) row[j] = bf16(row[j]); }

    static double[][] matrix(double[] v, int rows, int cols) {
        double[][] m = new double[rows][cols];
        for (int i = 0; i < rows; i++) System.arraycopy(v, i * cols, m[i], 0, cols);
        return m;
    }

    static double[] flat(double[][] m) {
        double[] v = new double[m.length * m[0].length];
        for (int i = 0; i < m.length; i++) System.arraycopy(m[i], 0, v, i * m[0].length, m[0].length);
        return v;
    }

    static double[][] copy(double[][] m) {
        double[][] c = new double[m.length][];
        for (int i = 0; i < m.length; i++) c[i] = m[i].clone();
        return c;
    }

    static double[][] transpose(double[][] m) {
        double[][] t = new double[m[0].length][m.length];
        for (int i = 0; i < m.length; i++) for (int j = 0; j < m[0].length; j++) t[j][i] = m[i][j];
        return t;
    }

    static double[][] multiply(double[][] a, double[][] b) {
        int n = a.length, k = b.length, m = b[0].length;
        double[][] c = new double[n][m];
        for (int i = 0; i < n; i++)
            for (int p = 0; p < k; p++) {
                double v = a[i][p];
                for (int j = 0; j < m; j++) c[i][j] += v * b[p][j];
            }
        return c;
    }
}
