package dev.speedrun.kernels.cuda;

import static dev.speedrun.kernels.cuda.GpuTestSupport.check;
import static dev.speedrun.kernels.cuda.GpuTestSupport.rtol;
import static dev.speedrun.tensor.DType.BF16;
import static dev.speedrun.tensor.DType.F32;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.cuda.GpuTestSupport.Pair;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.testsupport.Fixtures;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The tensor-core attention kernels ({@code attention_mma}, {@code attention_backward_dq_mma},
 * {@code attention_backward_dkv_mma}: BF16 q, k, v) against the CPU ops on the same BF16 inputs, on
 * shapes chosen around the kernels' tiles ({@link CudaOps#ATT_MMA_TILE} rows): several documents
 * per sequence (an empty and a one-token one), a document boundary inside a tile, windows smaller
 * and larger than a tile and one covering whole documents, T not a multiple of the tile, the tiny
 * fixture model's head dim, heads, documents and windows, and the record's head dim
 * ({@link CudaOps#MAX_HEAD_DIM}). Runs on a GPU (tag gpu) and on the emulated device
 * ({@link AttentionTensorCoreEmuTest}).
 *
 * <p>Tolerance, per element, from the BF16 roundings the tensor-core path adds to the CPU's F32
 * computation on the same BF16 inputs (unit roundoff {@code u = 2⁻⁸}): the forward rounds each
 * probability to BF16 as the P·V operand, so {@code |Δout| ≤ u·Σⱼ pⱼ|vⱼ|}, and stores out in BF16,
 * {@code u·|out|}; the backward rounds P (for dv = Pᵀ·dO) and dS = P∘(dP − δ) (for dq = scale·dS·K,
 * dk = scale·dSᵀ·Q) to BF16, so {@code |Δdv| ≤ u·Σᵢ Pᵢⱼ|dOᵢ|}, {@code |Δdq| ≤ u·scale·Σⱼ|dSᵢⱼ||kⱼ|},
 * {@code |Δdk| ≤ u·scale·Σᵢ|dSᵢⱼ||qᵢ|}, plus {@code u·|result|} for the BF16 store of the
 * accumulated gradient. Those sums B are computed here in double from the host copies of the
 * inputs; an element passes when {@code |gpu − cpu| ≤ 2u·(|cpu| + B)}: the factor 2 covers the two
 * roundings being bounded separately and F32 accumulation-order differences (~2⁻²⁴·√D relative, far
 * below u). lse is F32 on both sides: the F32 tolerance of reductions ({@link GpuTestSupport#rtol}).
 */
@Tag("gpu")
@org.junit.jupiter.api.Timeout(value = 120, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
class AttentionTensorCoreGpuTest {
    /** Unit roundoff of BF16 (8 significant bits). */
    static final double U = Math.scalb(1.0, -8);

    GpuTestSupport open(long seed) { return GpuTestSupport.open(seed); }

    /**
     * One shape: T = cu[last] tokens, H heads of D, documents cu, window in tokens, softmax scale;
     * io the dtype of out, dOut, dq, dk and dv (q, k, v are always BF16 here).
     */
    record Case(String name, int H, int D, int[] cu, int window, double scale, DType io) {
        Case(String name, int H, int D, int[] cu, int window, double scale) { this(name, H, D, cu, window, scale, BF16); }

        int T() { return cu[cu.length - 1]; }
    }

    /** The tiny fixture model's attention: its heads, head dim, documents and both windows. */
    static List<Case> fixtureCases() {
        JsonNode f = Fixtures.json("model_tiny.json"), c = f.get("config");
        int H = c.get("num_heads").asInt(), D = c.get("head_dim").asInt(), block = c.get("block_size").asInt();
        int[] cu = Fixtures.ints(f.get("cu_seqlens"));
        double scale = f.get("attn_scale").asDouble();
        return List.of(new Case("tiny short window", H, D, cu, f.get("ws_short").asInt() * block, scale),
                new Case("tiny long window", H, D, cu, f.get("ws_long").asInt() * block, scale));
    }

    /** The record's head dim over documents placed around the tiles. */
    static List<Case> tileCases() {
        int tile = CudaOps.ATT_MMA_TILE, D = CudaOps.MAX_HEAD_DIM;
        int T = 3 * tile + tile / 4 + 3;                     // not a multiple of the tile
        int b1 = tile / 2 + 5, b2 = tile + tile / 2 + 1;     // boundaries inside the first and second tile
        int[] cu = {0, b1, b1, b2, b2 + 1, T, T};             // an empty and a one-token document, padding
        double scale = 1 / Math.sqrt(D);
        List<Case> cases = new ArrayList<>();
        cases.add(new Case("window < tile", 2, D, cu, tile / 4, scale));
        cases.add(new Case("window > tile", 2, D, cu, tile + tile / 2, scale));
        cases.add(new Case("whole documents", 2, D, cu, Integer.MAX_VALUE, scale));   // j + window overflows an int
        cases.add(new Case("one document, window > tile", 1, D, new int[] {0, T}, tile + 7, scale));
        // F32 out and gradients (dOut loaded as two float4 and rounded): dOut holds BF16 values,
        // so that rounding is exact and the bounds above still hold.
        cases.add(new Case("F32 out and gradients", 2, D, cu, tile + tile / 2, scale, F32));
        return cases;
    }

    @Test void tinyFixtureShapes() { run(fixtureCases()); }

    @Test void recordHeadDimAroundTiles() { run(tileCases()); }

    void run(List<Case> cases) {
        try (GpuTestSupport s = open(14)) {
            for (Case c : cases) runCase(s, c);
        }
    }

    static void runCase(GpuTestSupport s, Case c) {
        int T = c.T(), H = c.H(), D = c.D(), W = c.window();
        double scale = c.scale();
        String tag = c.name() + " (T=" + T + " H=" + H + " D=" + D + " window=" + W + " " + c.io() + ")";
        DType io = c.io();
        Pair q = s.input(BF16, 1, T, H, D), k = s.input(BF16, 1, T, H, D), v = s.input(BF16, 1, T, H, D), cus = s.ints(c.cu());
        Pair out = s.output(io, T, H, D), lse = s.output(F32, H, T);
        s.both((o, g) -> o.attention(out.of(g), lse.of(g), q.of(g), k.of(g), v.of(g), cus.of(g), W, scale));
        Bounds b = new Bounds(c, HostData.toDoubles(q.cpu()), HostData.toDoubles(k.cpu()), HostData.toDoubles(v.cpu()),
                HostData.toDoubles(lse.cpu()));
        checkBounded("attention out " + tag, out, b.outSums());
        check("attention lse " + tag, lse, rtol(F32, true));

        Pair dOut = bf16Values(s, io, T, H, D), dq = s.input(io, 1, T, H, D), dk = s.input(io, 1, T, H, D), dv = s.input(io, 1, T, H, D);
        assertTrue(CudaOps.attentionOnTensorCores(D, q.gpu(), k.gpu(), v.gpu(), dOut.gpu()), tag + ": not the tensor-core path");
        // Both sides take the CPU's forward output (rounded to io) so the backward is compared alone.
        Pair o2 = s.pair(io, F32, HostData.toDoubles(out.cpu()), T, H, D);
        Pair l2 = s.pair(F32, F32, HostData.toDoubles(lse.cpu()), H, T);
        s.both((o, g) -> o.attentionBackward(dq.of(g), dk.of(g), dv.of(g), dOut.of(g), q.of(g), k.of(g), v.of(g),
                o2.of(g), l2.of(g), cus.of(g), W, scale));
        double[][] sums = b.backwardSums(HostData.toDoubles(dOut.cpu()), HostData.toDoubles(o2.cpu()));
        checkBounded("attention dq " + tag, dq, sums[0]);
        checkBounded("attention dk " + tag, dk, sums[1]);
        checkBounded("attention dv " + tag, dv, sums[2]);
    }

    /** Gaussian values rounded to BF16, held in a tensor of {@code dt} on the device. */
    static Pair bf16Values(GpuTestSupport s, DType dt, long... dims) {
        long n = 1;
        for (long d : dims) n *= d;
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = GpuTestSupport.round(s.rnd.nextGaussian(), BF16);
        return s.pair(dt, F32, v, dims);
    }

    /** |gpu − cpu| ≤ 2u·(|cpu| + B) per element (class comment); NaN never passes. Prints the worst ratio. */
    static void checkBounded(String what, Pair p, double[] bound) {
        double[] c = HostData.toDoubles(p.cpu()), g = HostData.toDoubles(p.gpu());
        int bad = 0;
        double worst = 0;
        String first = null;
        for (int i = 0; i < c.length; i++) {
            double tol = 2 * U * (Math.abs(c[i]) + bound[i]), err = Math.abs(g[i] - c[i]);
            if (!Double.isFinite(g[i]) || !(err <= tol)) {
                if (first == null) first = "element " + i + ": gpu " + g[i] + " vs cpu " + c[i] + " (tolerance " + tol + ")";
                bad++;
            } else if (tol > 0) worst = Math.max(worst, err / tol);
        }
        System.out.printf("[attention-mma] %s: worst |gpu - cpu| / tolerance %.3f%n", what, worst);
        assertTrue(bad == 0, what + ": " + bad + " of " + c.length + " elements outside 2u(|cpu| + B); first " + first);
    }

    /**
     * The sums B of the class comment, in double, from the host values: the mask (query p sees keys
     * max(doc start, p − window) .. p) and P = exp(scale·q·k − lse) with the CPU's lse.
     */
    record Bounds(Case c, double[] q, double[] k, double[] v, double[] lse) {
        int lo(int p) {
            int[] cu = c.cu();
            int start = 0;
            for (int x : cu) if (x <= p) start = x;
            return Math.max(start, p - c.window());
        }

        double dot(double[] a, int i, double[] b, int j, int h) {
            int H = c.H(), D = c.D();
            double s = 0;
            for (int d = 0; d < D; d++) s += a[(i * H + h) * D + d] * b[(j * H + h) * D + d];
            return s;
        }

        double prob(int h, int i, int j) { return Math.exp(c.scale() * dot(q, i, k, j, h) - lse[h * c.T() + i]); }

        /** Σⱼ pᵢⱼ|vⱼ| per [T, H, D] element. */
        double[] outSums() {
            int T = c.T(), H = c.H(), D = c.D();
            double[] sum = new double[T * H * D];
            for (int h = 0; h < H; h++)
                for (int i = 0; i < T; i++)
                    for (int j = lo(i); j <= i; j++) {
                        double p = prob(h, i, j);
                        for (int d = 0; d < D; d++) sum[(i * H + h) * D + d] += p * Math.abs(v[(j * H + h) * D + d]);
                    }
            return sum;
        }

        /** {scale·Σⱼ|dSᵢⱼ||kⱼ|, scale·Σᵢ|dSᵢⱼ||qᵢ|, Σᵢ Pᵢⱼ|dOᵢ|} per [T, H, D] element. */
        double[][] backwardSums(double[] dOut, double[] out) {
            int T = c.T(), H = c.H(), D = c.D();
            double[] bq = new double[T * H * D], bk = new double[T * H * D], bv = new double[T * H * D];
            for (int h = 0; h < H; h++)
                for (int i = 0; i < T; i++) {
                    double delta = dot(dOut, i, out, i, h);
                    for (int j = lo(i); j <= i; j++) {
                        double p = prob(h, i, j), ds = Math.abs(p * (dot(dOut, i, v, j, h) - delta)) * c.scale();
                        for (int d = 0; d < D; d++) {
                            int ei = (i * H + h) * D + d, ej = (j * H + h) * D + d;
                            bq[ei] += ds * Math.abs(k[ej]);
                            bk[ej] += ds * Math.abs(q[ei]);
                            bv[ej] += p * Math.abs(dOut[ei]);
                        }
                    }
                }
            return new double[][] {bq, bk, bv};
        }
    }
}
