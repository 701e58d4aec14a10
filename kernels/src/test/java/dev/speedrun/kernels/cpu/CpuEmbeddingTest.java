package dev.speedrun.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Embedding lookup and its backward: forward, backward, token checks, finite differences. */
class CpuEmbeddingTest extends OpTestSupport {

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void embedding(DType d) {
        int V = 11, C = 5;
        int[] tok = {3, 0, 10, 3, 3, 7, 1};
        int T = tok.length;
        Tensor table = rand(d, V, C), tt = ints(tok, T), out = zeros(d, T, C);
        OPS.embedding(out, table, tt);
        double[] tv = d(table), e = new double[T * C];
        for (int t = 0; t < T; t++) for (int c = 0; c < C; c++) e[t * C + c] = tv[tok[t] * C + c];
        close("embedding " + d, e, d(out), tol(d));

        Tensor g = rand(d, T, C), dt = rand(d, V, C);
        double[] dt0 = d(dt), gv = d(g), edt = new double[V * C];
        OPS.embeddingBackward(dt, g, tt);
        for (int t = 0; t < T; t++) for (int c = 0; c < C; c++) edt[tok[t] * C + c] += gv[t * C + c];
        close("embeddingBackward " + d, edt, minus(d(dt), dt0), tol(d));

        var ex = assertThrows(IllegalArgumentException.class, () -> OPS.embedding(out, table, ints(new int[] {0, 1, 2, 11, 0, 0, 0}, T)));
        assertTrue(ex.getMessage().contains("11") && ex.getMessage().contains("position 3"), ex.getMessage());
    }

    /**
     * A BF16 table (a BF16 parameter's gradient in mixed precision): each row gets its tokens' sum,
     * rounded to BF16 once, added with one more rounding, as the record's BF16 embedding gradient
     * of one backward added into its BF16 .grad. Expected values computed here from that rule; a
     * per-token BF16 accumulation gives other values (checked, so the test can tell them apart).
     */
    @Test void bf16TableAddsEachRowsSumRoundedOnce() {
        int V = 11, C = 5, T = 300;
        int[] tok = new int[T];
        for (int t = 0; t < T; t++) tok[t] = rnd.nextInt(V);
        Tensor g = rand(DType.F32, T, C), dt = rand(DType.BF16, V, C), tt = ints(tok, T);
        double[] gv = d(g), before = d(dt), sums = new double[V * C], perToken = before.clone();
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) {
                sums[tok[t] * C + c] += gv[t * C + c];
                perToken[tok[t] * C + c] = bf16(perToken[tok[t] * C + c] + gv[t * C + c]);
            }
        double[] want = new double[V * C];
        for (int i = 0; i < want.length; i++) want[i] = sums[i] == 0 ? before[i] : bf16(before[i] + bf16(sums[i]));
        OPS.embeddingBackward(dt, g, tt);
        assertArrayEquals(want, d(dt), "bf16(row + bf16(Σ over its tokens))");
        assertTrue(!java.util.Arrays.equals(want, perToken), "per-token BF16 additions should differ from one rounded sum");

        // the two roundings are the record's: 1 + bf16(2^-9 + 2^-20) is a tie that rounds to 1,
        // where one rounding of 1 + 2^-9 + 2^-20 would give 1 + 2^-8
        Tensor one = t(DType.BF16, new double[] {1}, 1, 1), tiny = t(DType.F32, new double[] {Math.scalb(1.0, -9) + Math.scalb(1.0, -20)}, 1, 1);
        OPS.embeddingBackward(one, tiny, ints(new int[] {0}, 1));
        assertEquals(1.0, d(one)[0], "bf16(1 + bf16(2^-9 + 2^-20))");
    }

    private static double bf16(double v) { return dev.speedrun.tensor.BFloat16.round((float) v); }

    @Test void embeddingFiniteDifferences() {
        DType d = DType.F64;
        int V = 6, C = 3;
        int[] tok = {2, 5, 2, 0};
        Tensor table = rand(d, V, C), tt = ints(tok, 4), r = rand(d, 4, C), out = zeros(d, 4, C), dt = zeros(d, V, C);
        OPS.embeddingBackward(dt, r, tt);
        fdCheck("embedding", table, d(dt), projection(r, out, () -> OPS.embedding(out, table, tt)));
    }
}
