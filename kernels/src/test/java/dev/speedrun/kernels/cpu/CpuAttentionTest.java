package dev.speedrun.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class CpuAttentionTest extends OpTestSupport {

    /** (T, H, D, window, cu_seqlens): T = 1, empty documents, windows 0, short and longer than the documents. */
    record Case(int T, int H, int D, int window, int[] cu) {}

    static final Case[] CASES = {
        new Case(1, 1, 4, 0, new int[] {0, 1}),
        new Case(1, 2, 6, 5, new int[] {0, 1, 1, 1}),
        new Case(7, 2, 4, 0, new int[] {0, 3, 7}),
        new Case(9, 3, 6, 2, new int[] {0, 0, 4, 4, 9, 9}),
        new Case(13, 2, 8, 100, new int[] {0, 5, 6, 13, 13}),
        new Case(40, 1, 2, 11, new int[] {0, 40}),
        new Case(70, 2, 8, 33, new int[] {0, 17, 17, 50, 70, 70, 70}), // several query chunks
    };

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void forwardAndBackwardMatchTheFullMatrix(DType d) {
        for (Case c : CASES) {
            int T = c.T, H = c.H, D = c.D, n = T * H * D;
            double scale = 0.7;
            Tensor q = t(d, uniform(n, -2, 2), T, H, D), k = t(d, uniform(n, -2, 2), T, H, D), v = rand(d, T, H, D);
            Tensor out = zeros(d, T, H, D), lse = zeros(d, H, T), cu = ints(c.cu, c.cu.length);
            OPS.attention(out, lse, q, k, v, cu, c.window, scale);
            double[][] ref = Reference.attention(d(q), d(k), d(v), T, H, D, c.cu, c.window, scale);
            String tag = " " + d + " T=" + T + " w=" + c.window;
            close("attention out" + tag, ref[0], d(out), tol(d));
            close("attention lse" + tag, ref[1], d(lse), tol(d));

            Tensor g = rand(d, T, H, D), dq = rand(d, T, H, D), dk = rand(d, T, H, D), dv = rand(d, T, H, D);
            double[] dq0 = d(dq), dk0 = d(dk), dv0 = d(dv);
            OPS.attentionBackward(dq, dk, dv, g, q, k, v, out, lse, cu, c.window, scale);
            double[][] rb = Reference.attentionBackward(d(g), d(q), d(k), d(v), T, H, D, c.cu, c.window, scale);
            // F32: the saved out and lse are F32 roundings and Δ = dOut·out cancels against dP
            // in dk and dq, which costs about one more digit than the forward
            double tb = d == DType.F64 ? 1e-11 : 3e-5;
            close("attentionBackward dq" + tag, rb[0], minus(d(dq), dq0), tb);
            close("attentionBackward dk" + tag, rb[1], minus(d(dk), dk0), tb);
            close("attentionBackward dv" + tag, rb[2], minus(d(dv), dv0), tb);
        }
    }

    @Test void finiteDifferences() {
        DType d = DType.F64;
        for (Case c : new Case[] {CASES[1], CASES[3], CASES[4]}) {
            int T = c.T, H = c.H, D = c.D;
            double scale = 0.6;
            Tensor q = rand(d, T, H, D), k = rand(d, T, H, D), v = rand(d, T, H, D), r = rand(d, T, H, D);
            Tensor out = zeros(d, T, H, D), lse = zeros(d, H, T), cu = ints(c.cu, c.cu.length);
            Tensor o2 = zeros(d, T, H, D), l2 = zeros(d, H, T);
            OPS.attention(out, lse, q, k, v, cu, c.window, scale);
            Tensor dq = zeros(d, T, H, D), dk = zeros(d, T, H, D), dv = zeros(d, T, H, D);
            OPS.attentionBackward(dq, dk, dv, r, q, k, v, out, lse, cu, c.window, scale);
            var loss = projection(r, o2, () -> OPS.attention(o2, l2, q, k, v, cu, c.window, scale));
            fdCheck("attention q", q, d(dq), loss);
            fdCheck("attention k", k, d(dk), loss);
            fdCheck("attention v", v, d(dv), loss);
        }
    }

    @Test void largeParallelCaseMatchesReference() {
        // T·H large enough for the parallel path; a few documents and a window.
        DType d = DType.F32;
        int T = 192, H = 4, D = 16, window = 50;
        int[] cu = {0, 60, 61, 150, 192, 192};
        Tensor q = rand(d, T, H, D), k = rand(d, T, H, D), v = rand(d, T, H, D);
        Tensor out = zeros(d, T, H, D), lse = zeros(d, H, T), cut = ints(cu, cu.length);
        OPS.attention(out, lse, q, k, v, cut, window, 0.25);
        double[][] ref = Reference.attention(d(q), d(k), d(v), T, H, D, cu, window, 0.25);
        close("attention parallel out", ref[0], d(out), TOL_F32);
        Tensor g = rand(d, T, H, D), dq = zeros(d, T, H, D), dk = zeros(d, T, H, D), dv = zeros(d, T, H, D);
        OPS.attentionBackward(dq, dk, dv, g, q, k, v, out, lse, cut, window, 0.25);
        double[][] rb = Reference.attentionBackward(d(g), d(q), d(k), d(v), T, H, D, cu, window, 0.25);
        close("attention parallel dq", rb[0], d(dq), 3e-5);
        close("attention parallel dk", rb[1], d(dk), 3e-5);
        close("attention parallel dv", rb[2], d(dv), 3e-5);
    }

    @Test void concurrentCallersDoNotShareScratch() throws Exception {
        // two threads (as two in-process ranks would) run the same large attention at once
        DType d = DType.F64;
        int T = 160, H = 3, D = 8, window = 40;
        int[] cu = {0, 70, 160};
        Tensor q = rand(d, T, H, D), k = rand(d, T, H, D), v = rand(d, T, H, D), g = rand(d, T, H, D), cut = ints(cu, cu.length);
        double[][] ref = Reference.attention(d(q), d(k), d(v), T, H, D, cu, window, 0.3);
        double[][] rb = Reference.attentionBackward(d(g), d(q), d(k), d(v), T, H, D, cu, window, 0.3);
        Tensor[][] outs = new Tensor[2][];
        for (int r = 0; r < 2; r++)
            outs[r] = new Tensor[] {zeros(d, T, H, D), zeros(d, H, T), zeros(d, T, H, D), zeros(d, T, H, D), zeros(d, T, H, D)};
        try (var ex = java.util.concurrent.Executors.newFixedThreadPool(2)) {
            var futures = new java.util.ArrayList<java.util.concurrent.Future<?>>();
            for (int r = 0; r < 2; r++) {
                Tensor[] o = outs[r];
                futures.add(ex.submit(() -> {
                    for (int rep = 0; rep < 3; rep++) {
                        OPS.attention(o[0], o[1], q, k, v, cut, window, 0.3);
                        for (int i = 2; i < 5; i++) OPS.fill(o[i], 0);
                        OPS.attentionBackward(o[2], o[3], o[4], g, q, k, v, o[0], o[1], cut, window, 0.3);
                    }
                }));
            }
            for (var f : futures) f.get();
        }
        for (int r = 0; r < 2; r++) {
            close("attention concurrent out", ref[0], d(outs[r][0]), TOL_F64);
            close("attention concurrent dq", rb[0], d(outs[r][2]), 1e-11);
            close("attention concurrent dk", rb[1], d(outs[r][3]), 1e-11);
            close("attention concurrent dv", rb[2], d(outs[r][4]), 1e-11);
        }
    }

    @Test void badCuSeqlensIsRejected() {
        Tensor q = rand(DType.F32, 4, 1, 2), out = zeros(DType.F32, 4, 1, 2), lse = zeros(DType.F32, 1, 4);
        var e = assertThrows(IllegalArgumentException.class,
                () -> OPS.attention(out, lse, q, q, q, ints(new int[] {0, 3, 2, 4}, 4), 1, 1));
        assertTrue(e.getMessage().contains("non-decreasing"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> OPS.attention(out, lse, q, q, q, ints(new int[] {0, 3}, 2), 1, 1));
        assertTrue(e.getMessage().contains("T = 4"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> OPS.attention(out, zeros(DType.F32, 4, 1), q, q, q, ints(new int[] {0, 4}, 2), 1, 1));
        assertTrue(e.getMessage().contains("lse"), e.getMessage());
    }
}
