package dev.speedrun.kernels.cpu;

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

    @Test void embeddingFiniteDifferences() {
        DType d = DType.F64;
        int V = 6, C = 3;
        int[] tok = {2, 5, 2, 0};
        Tensor table = rand(d, V, C), tt = ints(tok, 4), r = rand(d, 4, C), out = zeros(d, 4, C), dt = zeros(d, V, C);
        OPS.embeddingBackward(dt, r, tt);
        fdCheck("embedding", table, d(dt), projection(r, out, () -> OPS.embedding(out, table, tt)));
    }
}
