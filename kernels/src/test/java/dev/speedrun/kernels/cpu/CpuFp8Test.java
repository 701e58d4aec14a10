package dev.speedrun.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Fixtures;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@code quantizeFp8} and {@code matmulFp8} on the CPU against a float64 reference of the FP8
 * formats written here from their bit layouts (E4M3 "fn": bias 7, 3 mantissa bits, no ∞, NaN
 * S.1111.111; E5M2: bias 15, 2 mantissa bits, ∞ S.11111.00): round to nearest even by searching the
 * format's value grid, ties to the even code, saturation at ±448 / ±57344, subnormals. The LM-head
 * shapes come from the tiny model fixture (tokens T, model_dim C, vocab_padded V).
 */
class CpuFp8Test extends OpTestSupport {
    static final DType[] FORMATS = {DType.FP8_E4M3, DType.FP8_E5M2};
    /** The record's scales of the LM head (x, weight, gradient). */
    static final double XS = 100.0 / 448, WS = 1.5 / 448, GS = 0.75 / 448;

    // ------------------------------------------------------------------ the float64 reference

    static boolean e4m3(DType f) { return f == DType.FP8_E4M3; }

    /** Value of every non-negative code 0..0x7F (NaN and ∞ codes as such), from the bit layout. */
    static double[] codeValues(DType f) {
        int man = e4m3(f) ? 3 : 2, bias = e4m3(f) ? 7 : 15;
        double[] v = new double[128];
        for (int c = 0; c < 128; c++) {
            int exp = c >> man, m = c & ((1 << man) - 1);
            if (e4m3(f) && exp == 15 && m == 7) v[c] = Double.NaN;
            else if (!e4m3(f) && exp == 31) v[c] = m == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
            else if (exp == 0) v[c] = m * Math.pow(2, 1 - bias - man);
            else v[c] = (1 + m / Math.pow(2, man)) * Math.pow(2, exp - bias);
        }
        return v;
    }

    static double decode(byte b, DType f) {
        double v = codeValues(f)[b & 0x7F];
        return (b & 0x80) != 0 ? -v : v;
    }

    /** Largest finite code's value. */
    static double max(DType f) {
        double[] v = codeValues(f);
        double m = 0;
        for (double x : v) if (Double.isFinite(x)) m = Math.max(m, x);
        return m;
    }

    /** The reference quantisation of a value q (already the F32 quotient x/s): nearest grid value, ties to the even code. */
    static double quantize(double q, DType f) {
        if (Double.isNaN(q)) return Double.NaN;
        double a = Math.abs(q), mx = max(f), r;
        if (a >= mx) r = mx;
        else {
            double[] v = codeValues(f);
            int i = 0;
            while (v[i + 1] <= a) i++;       // v[i] ≤ a < v[i+1], codes ascending in value
            double lo = v[i], hi = v[i + 1];
            if (a - lo < hi - a) r = lo;
            else if (a - lo > hi - a) r = hi;
            else r = i % 2 == 0 ? lo : hi;   // tie: the even code (mantissa LSB 0)
        }
        return q < 0 || (q == 0 && 1 / q < 0) ? -r : r;
    }

    /** The op's semantics in F32: fp8(x / s) with the quotient rounded to F32 first. */
    static double quantize(double x, double s, DType f) { return quantize((float) x / (float) s, f); }

    static double[] bytesDecoded(Tensor t, DType f) {
        int n = Math.toIntExact(t.numel());
        double[] out = new double[n];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(Math.max(1, n));
            t.backend().copyToHost(host, t);
            for (int i = 0; i < n; i++) out[i] = decode(host.get(ValueLayout.JAVA_BYTE, i), f);
        }
        return out;
    }

    /** Same value, NaN equal to NaN, and the sign of zero kept. */
    static boolean same(double want, double got) {
        if (Double.isNaN(want) || Double.isNaN(got)) return Double.isNaN(want) && Double.isNaN(got);
        return want == got && (want != 0 || Math.copySign(1, want) == Math.copySign(1, got));
    }

    // ------------------------------------------------------------------ quantisation

    /** Edge cases of a format at s = 1: grid values, midpoints (ties) and their float neighbours, subnormals, saturation. */
    static float[] edgeInputs(DType f) {
        List<Float> in = new ArrayList<>(List.of(0f, -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 1e30f, -1e30f,
                Float.MIN_VALUE, -Float.MIN_VALUE));
        double[] v = codeValues(f);
        for (int c = 0; c + 1 < 128 && Double.isFinite(v[c + 1]); c++) {
            float lo = (float) v[c], mid = (float) ((v[c] + v[c + 1]) / 2);
            for (float x : new float[] {lo, mid, Math.nextUp(mid), Math.nextDown(mid)}) {
                in.add(x);
                in.add(-x);
            }
        }
        double mx = max(f), ulp = mx - v[(int) java.util.stream.IntStream.range(0, 128).filter(c -> v[c] == mx).findFirst().getAsInt() - 1];
        for (double x : new double[] {mx, mx + ulp / 2, Math.nextUp((float) (mx + ulp / 2)), mx + ulp, 2 * mx}) in.add((float) x);
        float[] out = new float[in.size()];
        for (int i = 0; i < out.length; i++) out[i] = in.get(i);
        return out;
    }

    @Test void quantisationMatchesTheReferenceOnEveryEdge() {
        for (DType f : FORMATS) {
            float[] xs = edgeInputs(f);
            double[] xd = new double[xs.length];
            for (int i = 0; i < xs.length; i++) xd[i] = xs[i];
            Tensor x = t(DType.F32, xd, xs.length), out = zeros(f, xs.length);
            OPS.quantizeFp8(out, x, scalar(DType.F32, 1));
            double[] got = bytesDecoded(out, f);
            for (int i = 0; i < xs.length; i++)
                assertTrue(same(quantize(xs[i], f), got[i]), f + ": fp8(" + xs[i] + ") = " + got[i] + ", reference " + quantize(xs[i], f));
        }
    }

    @Test void quantisationDividesByTheScaleInF32() {
        // wide-range values (subnormal to saturated after the division) at the record's scales, F32 and BF16 inputs
        int n = 4096;
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = (rnd.nextBoolean() ? 1 : -1) * Math.pow(2, -30 + 50 * rnd.nextDouble());
        for (DType f : FORMATS)
            for (DType xd : new DType[] {DType.F32, DType.BF16})
                for (double s : new double[] {XS, WS, GS}) {
                    Tensor x = t(xd, v, n), out = zeros(f, n);
                    OPS.quantizeFp8(out, x, scalar(DType.F32, s));
                    double[] xin = d(x), got = bytesDecoded(out, f);
                    int saturated = 0, subnormal = 0;
                    for (int i = 0; i < n; i++) {
                        double want = quantize(xin[i], s, f);
                        assertTrue(same(want, got[i]), f + " " + xd + " s=" + s + ": fp8(" + xin[i] + "/s) = " + got[i] + ", reference " + want);
                        if (Math.abs(want) == max(f)) saturated++;
                        if (want != 0 && Math.abs(want) < codeValues(f)[1 << (e4m3(f) ? 3 : 2)]) subnormal++;
                    }
                    assertTrue(saturated > 0 && subnormal > 0, "the inputs reach saturation and subnormals: " + saturated + ", " + subnormal);
                }
    }

    @Test void quantisationArgumentsAreChecked() {
        Tensor x = rand(DType.F32, 8), one = scalar(DType.F32, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OPS.quantizeFp8(zeros(DType.BF16, 8), x, one));
        assertTrue(e.getMessage().startsWith("quantizeFp8: out must be FP8_E4M3 or FP8_E5M2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OPS.quantizeFp8(zeros(DType.FP8_E4M3, 8), x, scalar(DType.BF16, 1)));
        assertTrue(e.getMessage().contains("scale must be one F32 element"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OPS.quantizeFp8(zeros(DType.FP8_E4M3, 7), x, one));
        assertTrue(e.getMessage().contains("x must have 7 elements"), e.getMessage());
    }

    // ------------------------------------------------------------------ the scaled FP8 GEMM

    /** {@code out = sa·sb·op(qa)·op(qb) + beta·old} in float64 over the reference quantisation, and its error bound. */
    record Expected(double[] value, double[] bound, double[] unquantised) {}

    static Expected expected(double[] a, DType fa, double sa, double[] b, DType fb, double sb, double[] old, double beta,
                             int M, int K, int N, boolean ta, boolean tb, DType out) {
        double[] qa = new double[a.length], qb = new double[b.length], aa = new double[a.length], ab = new double[b.length];
        for (int i = 0; i < a.length; i++) { qa[i] = quantize(a[i], sa, fa); aa[i] = Math.abs(qa[i]); }
        for (int i = 0; i < b.length; i++) { qb[i] = quantize(b[i], sb, fb); ab[i] = Math.abs(qb[i]); }
        double[] p = Reference.matmul(qa, qb, M, K, N, ta, tb), mag = Reference.matmul(aa, ab, M, K, N, ta, tb);
        double[] raw = Reference.matmul(a, b, M, K, N, ta, tb);
        double s = (float) ((float) sa * (float) sb);
        double[] v = new double[M * N], bound = new double[M * N];
        double u = 0x1p-24, outU = out == DType.BF16 ? 0x1p-8 : u;
        for (int i = 0; i < v.length; i++) {
            v[i] = s * p[i] + beta * old[i];
            raw[i] += beta * old[i];
            // F32 accumulation over K terms (plus the scale and the beta term), then one rounding into out
            bound[i] = (K + 3) * u * (s * mag[i] + Math.abs(beta * old[i])) + outU * Math.abs(v[i]) + 1e-30;
        }
        return new Expected(v, bound, raw);
    }

    /** One product: checks the op against the reference, and that the reference is not the unquantised product. */
    void check(String tag, int M, int K, int N, boolean ta, boolean tb, DType fa, double sa, double aStd, DType fb, double sb, double bStd,
               DType out, double beta) {
        double[] a = uniform(M * K, -aStd, aStd), b = uniform(K * N, -bStd, bStd), old = uniform(M * N, -1, 1);
        Tensor ta_ = t(DType.BF16, a, ta ? K : M, ta ? M : K), tb_ = t(DType.BF16, b, tb ? N : K, tb ? K : N);
        Tensor o = t(out, old, M, N);
        double[] oldStored = d(o);
        Expected e = expected(d(ta_), fa, sa, d(tb_), fb, sb, oldStored, beta, M, K, N, ta, tb, out);
        OPS.matmulFp8(o, ta_, fa, scalar(DType.F32, sa), tb_, fb, scalar(DType.F32, sb), ta, tb, beta);
        double[] got = d(o);
        boolean quantisationShows = false;
        for (int i = 0; i < got.length; i++) {
            assertTrue(Math.abs(got[i] - e.value()[i]) <= e.bound()[i],
                    tag + " [" + i / N + "," + i % N + "]: " + got[i] + " vs reference " + e.value()[i] + " (bound " + e.bound()[i] + ")");
            if (Math.abs(e.unquantised()[i] - e.value()[i]) > 4 * e.bound()[i]) quantisationShows = true;
        }
        assertTrue(quantisationShows, tag + ": the FP8 reference never differs from the unquantised product, so the test could not fail");
    }

    @Test void theLmHeadProductsMatchTheReference() {
        JsonNode fx = Fixtures.json("model_tiny.json");
        int T = Fixtures.ints(fx.get("tokens")).length, C = fx.get("config").get("model_dim").asInt(),
                V = fx.get("config").get("vocab_padded").asInt();
        // forward: logits [T,V] = x [T,C] · w [V,C]ᵀ, E4M3 both, BF16 out
        check("forward", T, C, V, false, true, DType.FP8_E4M3, XS, 2, DType.FP8_E4M3, WS, 0.02, DType.BF16, 0);
        // dx [T,C] = g [T,V] · w [V,C]: E5M2 gradient, E4M3 weight, BF16 out
        check("dx", T, V, C, false, false, DType.FP8_E5M2, GS, 1e-2, DType.FP8_E4M3, WS, 0.02, DType.BF16, 0);
        // dW [V,C] += g [T,V]ᵀ · x [T,C]: E5M2 gradient, E4M3 x, F32 out accumulated
        check("dW", V, T, C, true, false, DType.FP8_E5M2, GS, 1e-2, DType.FP8_E4M3, XS, 2, DType.F32, 1);
    }

    @Test void everyTransposeAndFormatPair() {
        int M = 19, K = 37, N = 23;
        for (boolean ta : new boolean[] {false, true})
            for (boolean tb : new boolean[] {false, true})
                for (DType[] fs : new DType[][] {{DType.FP8_E4M3, DType.FP8_E4M3}, {DType.FP8_E5M2, DType.FP8_E4M3}, {DType.FP8_E4M3, DType.FP8_E5M2}})
                    check("ta=" + ta + " tb=" + tb + " " + fs[0] + "·" + fs[1], M, K, N, ta, tb, fs[0], 0.01, 1, fs[1], 0.02, 1,
                            DType.F32, 0.5);
    }

    @Test void gemmArgumentsAreChecked() {
        Tensor a = rand(DType.F32, 4, 16), b = rand(DType.F32, 8, 16), out = zeros(DType.F32, 4, 8), one = scalar(DType.F32, 1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OPS.matmulFp8(out, a, DType.FP8_E5M2, one, b, DType.FP8_E5M2, one, false, true, 0));
        assertTrue(e.getMessage().contains("both FP8_E5M2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OPS.matmulFp8(out, a, DType.BF16, one, b, DType.FP8_E4M3, one, false, true, 0));
        assertTrue(e.getMessage().startsWith("matmulFp8: aFormat must be FP8_E4M3 or FP8_E5M2"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OPS.matmulFp8(out, a, DType.FP8_E4M3, one, b, DType.FP8_E4M3, one, false, false, 0));
        assertTrue(e.getMessage().startsWith("matmulFp8: matmul(") && e.getMessage().contains("do not agree"), e.getMessage());
        assertEquals(0, OPS.fp8Unavailable().map(String::length).orElse(0), "the CPU computes the FP8 products itself");
    }
}
