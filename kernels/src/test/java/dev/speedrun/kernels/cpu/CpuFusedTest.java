package dev.speedrun.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Fixtures;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The fused ops ({@link CpuFused}) against the sequences of unfused ops they stand for (forward and backward), bit for bit,
 * in F64, F32 (the Vector API paths) and BF16 activations with F32 statistics (the record's mixed
 * precision), at the tiny fixture model's sizes and at the record's head dim (yarn fixture).
 */
class CpuFusedTest extends OpTestSupport {
    /** T, H, D, C of a case, with its rotary frequencies. */
    record Sizes(String name, int T, int H, int D, int C, double[] freqs) {}

    static List<Sizes> sizes() {
        JsonNode tiny = Fixtures.json("model_tiny.json"), c = tiny.get("config"), yarn = Fixtures.json("yarn_record178.json");
        int H = c.get("num_heads").asInt();
        return List.of(
                new Sizes("tiny", tiny.get("tokens").size(), H, c.get("head_dim").asInt(), c.get("model_dim").asInt(),
                        Fixtures.doubles(tiny.get("angular_freq"))),
                // the record's head dim over one block of tokens: rows longer than a warp's 32 lanes
                new Sizes("record head", yarn.get("block_size").asInt(), H, yarn.get("head_dim").asInt(), H * yarn.get("head_dim").asInt(),
                        Fixtures.doubles(yarn.get("states").get(0).get("angular_freq"))));
    }

    static DType stat(DType act) { return act == DType.F64 ? DType.F64 : DType.F32; }

    @ParameterizedTest @EnumSource(names = {"F64", "F32", "BF16"})
    void mixRmsNormIsTheMixThenTheNormOfTheStoredMix(DType dt) {
        for (Sizes s : sizes()) {
            String at = s.name() + " " + dt;
            Tensor x = scaled(dt, 3, s.T(), s.C()), y = scaled(dt, 3, s.T(), s.C());
            Tensor a = scalar(DType.F32, 1.1), b = scalar(DType.F32, -0.37);
            // with both scalars and constants, into a separate out
            Tensor out = zeros(dt, s.T(), s.C()), norm = zeros(dt, s.T(), s.C()), rrms = zeros(stat(dt), s.T());
            Tensor scaled = zeros(dt, s.T(), s.C()), scaled0 = zeros(dt, s.T(), s.C()), sa = scalar(DType.F32, 0.7);
            OPS.mixRmsNorm(out, norm, rrms, scaled, x, a, 0.5, y, b, -2, sa);
            Tensor out0 = zeros(dt, s.T(), s.C()), norm0 = zeros(dt, s.T(), s.C()), rrms0 = zeros(stat(dt), s.T());
            OPS.mix(out0, x, a, 0.5, y, b, -2);
            OPS.rmsNorm(norm0, rrms0, out0);
            OPS.mix(scaled0, norm0, sa, 1, null, null, 0);
            same(at + " mix", out0, out, norm0, norm, rrms0, rrms);
            assertArrayEquals(d(scaled0), d(scaled), 0, at + ": scaled");
            // one term only
            OPS.mixRmsNorm(out, norm, rrms, null, x, a, 1, null, null, 0, null);
            OPS.mix(out0, x, a, 1, null, null, 0);
            OPS.rmsNorm(norm0, rrms0, out0);
            same(at + " one term", out0, out, norm0, norm, rrms0, rrms);
            // the blocks' residual add, in place (out = x), against add then rmsNorm
            Tensor acc = copy(x), acc0 = copy(x);
            OPS.mixRmsNorm(acc, norm, rrms, null, acc, null, 1, y, null, 1, null);
            OPS.add(acc0, acc0, y);
            OPS.rmsNorm(norm0, rrms0, acc0);
            same(at + " residual add", acc0, acc, norm0, norm, rrms0, rrms);
        }
    }

    @ParameterizedTest @EnumSource(names = {"F64", "F32", "BF16"})
    void rmsNormRotaryIsTheNormThenTheRotaryThenTheShift(DType dt) {
        for (Sizes s : sizes()) {
            for (boolean shift : new boolean[] {false, true}) {
                String at = s.name() + " " + dt + (shift ? " key shift" : "");
                long rows = (long) s.T() * s.H();
                Tensor x = scaled(dt, 2, s.T(), s.H(), s.D()), freqs = t(stat(dt), s.freqs(), s.D() / 2);
                Tensor out = zeros(dt, s.T(), s.H(), s.D()), rrms = zeros(stat(dt), s.T(), s.H());
                OPS.rmsNormRotary(out, rrms, x, freqs, shift);
                Tensor n = zeros(dt, s.T(), s.H(), s.D()), rrms0 = zeros(stat(dt), s.T(), s.H()), out0 = zeros(dt, s.T(), s.H(), s.D());
                OPS.rmsNorm(n.reshape(rows, s.D()), rrms0.reshape(rows), x.reshape(rows, s.D()));
                OPS.rotary(n, n, freqs);
                if (shift) OPS.keyShift(out0, n);
                else out0 = n;
                assertArrayEquals(d(out0), d(out), 0, at + ": out");
                assertArrayEquals(d(rrms0), d(rrms), 0, at + ": rrms");
            }
        }
    }

    @ParameterizedTest @EnumSource(names = {"F64", "F32", "BF16"})
    void rmsNormRotaryBackwardIsTheShiftThenRotaryThenNormBackward(DType dt) {
        for (Sizes s : sizes()) {
            for (boolean shift : new boolean[] {false, true}) {
                String at = s.name() + " " + dt + (shift ? " key shift" : "");
                long rows = (long) s.T() * s.H();
                long[] thd = {s.T(), s.H(), s.D()};
                Tensor x = scaled(dt, 2, thd), dOut = scaled(dt, 1, thd), freqs = t(stat(dt), s.freqs(), s.D() / 2);
                Tensor y = zeros(dt, thd), rrms = zeros(stat(dt), s.T(), s.H());
                OPS.rmsNormRotary(y, rrms, x, freqs, shift);
                // onto a non-zero dx: the op accumulates
                Tensor dx = scaled(dt, 1, thd), dx0 = copy(dx);
                OPS.rmsNormRotaryBackward(dx, dOut, x, rrms, freqs, shift);
                Tensor shifted = dOut, rotated = zeros(dt, thd);
                if (shift) {
                    shifted = zeros(dt, thd);
                    OPS.keyShiftBackward(shifted, dOut);
                }
                OPS.rotaryBackward(rotated, shifted, freqs);
                OPS.rmsNormBackward(dx0.reshape(rows, s.D()), rotated.reshape(rows, s.D()), x.reshape(rows, s.D()), rrms.reshape(rows));
                assertArrayEquals(d(dx0), d(dx), 0, at + ": dx");
            }
        }
    }

    @ParameterizedTest @EnumSource(names = {"F64", "F32", "BF16"})
    void addEmbeddingIsTheLookupThenTheAdd(DType dt) {
        JsonNode tiny = Fixtures.json("model_tiny.json");
        int[] tokens = Fixtures.ints(tiny.get("tokens"));
        int V = tiny.get("config").get("vocab_padded").asInt();
        for (Sizes s : sizes()) {
            String at = s.name() + " " + dt;
            int T = tokens.length;
            Tensor ids = ints(tokens, T), x = scaled(dt, 2, T, s.C());
            // the table in F32 under BF16 activations: the row is rounded to out's dtype before the add, as the lookup stores it
            for (DType tableDt : dt == DType.BF16 ? List.of(DType.BF16, DType.F32) : List.of(dt)) {
                Tensor table = scaled(tableDt, 1, V, s.C()), out = zeros(dt, T, s.C()), e = zeros(dt, T, s.C()), out0 = zeros(dt, T, s.C());
                OPS.addEmbedding(out, x, table, ids);
                OPS.embedding(e, table, ids);
                OPS.add(out0, x, e);
                assertArrayEquals(d(out0), d(out), 0, at + " table " + tableDt);
                Tensor acc = copy(x);
                OPS.addEmbedding(acc, acc, table, ids);
                assertArrayEquals(d(out0), d(acc), 0, at + " table " + tableDt + " in place");
            }
        }
    }

    @ParameterizedTest @EnumSource(names = {"F64", "F32", "BF16"})
    void headGateScaledIsTheGateThenTheMix(DType dt) {
        int G = Fixtures.json("model_tiny.json").get("config").get("gate_input_dims").asInt();
        for (Sizes s : sizes()) {
            String at = s.name() + " " + dt;
            long[] thd = {s.T(), s.H(), s.D()};
            Tensor y = scaled(dt, 2, thd), x = scaled(dt, 1, s.T(), s.C()), w = scaled(DType.BF16, 1, s.H(), G), sa = scalar(DType.F32, 0.9);
            Tensor out = zeros(dt, thd), gate = zeros(stat(dt), s.T(), s.H()), sc = zeros(dt, thd);
            OPS.headGateScaled(out, gate, sc, y, x, w, sa);
            Tensor out0 = zeros(dt, thd), gate0 = zeros(stat(dt), s.T(), s.H()), sc0 = zeros(dt, thd);
            OPS.headGate(out0, gate0, y, x, w);
            OPS.mix(sc0, out0, sa, 1, null, null, 0);
            assertArrayEquals(d(out0), d(out), 0, at + ": out");
            assertArrayEquals(d(gate0), d(gate), 0, at + ": gate");
            assertArrayEquals(d(sc0), d(sc), 0, at + ": scaled");
        }
    }

    @ParameterizedTest @EnumSource(names = {"F32"})
    void badArgumentsAreRejectedWithTheValueNamed(DType dt) {
        Sizes s = sizes().get(0);
        Tensor x = rand(dt, s.T(), s.C()), rrms = zeros(dt, s.T());
        var e = assertThrows(IllegalArgumentException.class, () -> OPS.mixRmsNorm(x, x, rrms, null, x, null, 1, null, null, 0, null));
        assertEquals("mixRmsNorm: norm must not alias out, x or y", e.getMessage());
        Tensor norm = zeros(dt, s.T(), s.C()), sa = scalar(dt, 0.5);
        e = assertThrows(IllegalArgumentException.class, () -> OPS.mixRmsNorm(x, norm, rrms, null, x, null, 1, null, null, 0, sa));
        assertEquals("mixRmsNorm: s given but scaled is null", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> OPS.mixRmsNorm(x, norm, rrms, norm, x, null, 1, null, null, 0, sa));
        assertEquals("mixRmsNorm: scaled must not alias out, norm, x or y", e.getMessage());
        Tensor q = rand(dt, s.T(), s.H(), s.D());
        e = assertThrows(IllegalArgumentException.class, () -> OPS.rmsNormRotary(q, zeros(dt, s.T(), s.H()), q, zeros(dt, s.D() / 2), false));
        assertEquals("rmsNormRotary: out must not alias x", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> OPS.rmsNormRotary(zeros(dt, s.T(), s.H(), s.D()), zeros(dt, s.T()), q, zeros(dt, s.D() / 2), false));
        assertEquals("rmsNormRotary: rrms must have " + (long) s.T() * s.H() + " elements, got shape [" + s.T() + "]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> OPS.rmsNormRotaryBackward(q, q, rand(dt, s.T(), s.H(), s.D()), zeros(dt, s.T(), s.H()), zeros(dt, s.D() / 2), true));
        assertEquals("rmsNormRotaryBackward: dx must not alias dOut", e.getMessage());
        int V = s.C();
        Tensor table = rand(dt, V, s.C()), bad = ints(new int[] {0, V}, 2);
        e = assertThrows(IllegalArgumentException.class, () -> OPS.addEmbedding(zeros(dt, 2, s.C()), zeros(dt, 2, s.C()), table, bad));
        assertEquals("addEmbedding: token id " + V + " at position 1 outside [0, " + V + ")", e.getMessage());
    }

    private Tensor scaled(DType dt, double scale, long... dims) {
        long n = 1;
        for (long v : dims) n *= v;
        double[] v = randn(Math.toIntExact(n));
        for (int i = 0; i < v.length; i++) v[i] *= scale;
        return t(dt, v, dims);
    }

    private Tensor copy(Tensor x) { return t(x.dtype(), d(x), x.shape().dims()); }

    private static void same(String at, Tensor out0, Tensor out, Tensor norm0, Tensor norm, Tensor rrms0, Tensor rrms) {
        assertArrayEquals(d(out0), d(out), 0, at + ": out");
        assertArrayEquals(d(norm0), d(norm), 0, at + ": norm");
        assertArrayEquals(d(rrms0), d(rrms), 0, at + ": rrms");
    }
}
