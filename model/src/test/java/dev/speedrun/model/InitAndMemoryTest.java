package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The record's parameter table and initialisation statistics; allocation-free steps. */
class InitAndMemoryTest {
    private static final GptConfig CFG = GptConfig.preset("cpu-small");

    @Test void parameterTableFollowsTheSpec() {
        GptConfig rec = GptConfig.record178();
        assertEquals(50304, rec.vocabPadded());
        List<ParamSpec> specs = Gpt.specs(rec, 8);
        ParamSpec scalars = specs.get(specs.size() - 1);
        assertEquals("scalars", scalars.name());
        assertEquals(40, scalars.shape().numel(), "36 scalars padded to a multiple of 8 ranks");
        double[] v = ((Init.Values) scalars.init()).values();
        for (int k = 36; k < 40; k++) assertEquals(1.0, v[k], "padding entry " + k);
        assertEquals(36, Gpt.specs(rec, 1).getLast().shape().numel());
        assertEquals(36, Gpt.specs(rec, 4).getLast().shape().numel());
        assertFalse(specs.stream().anyMatch(s -> s.name().equals("blocks.6.attn.qkvo_w")), "layer 6 has no attention");
        ParamSpec qkvo = specs.stream().filter(s -> s.name().equals("blocks.0.attn.qkvo_w")).findFirst().orElseThrow();
        assertArrayEquals(new long[] {3072, 768}, qkvo.shape().dims());
        ParamSpec proj = specs.stream().filter(s -> s.name().equals("blocks.0.mlp.c_proj")).findFirst().orElseThrow();
        assertEquals(2.0, proj.lrMul());
        Set<String> labels = Set.of("smear_gate", "value_embed", "attn", "attn_gate", "mlp", "lm_head", "embed", "x0_lambdas", "scalars");
        for (ParamSpec s : specs) assertTrue(labels.contains(s.label()), s.name() + " has label " + s.label());
        // every state-dict name appears once
        assertEquals(specs.size(), specs.stream().map(ParamSpec::name).distinct().count());
    }

    @Test void initialisationStatistics() {
        try (Gpt a = new Gpt(CFG, Kernels.cpu(), DType.F64, 4, 8, 42);
             Gpt b = new Gpt(CFG, Kernels.cpu(), DType.F64, 4, 8, 42);
             Gpt c = new Gpt(CFG, Kernels.cpu(), DType.F64, 4, 8, 43)) {
            for (Parameter p : a.parameters()) {
                double[] x = HostData.toDoubles(p.value());
                assertArrayEquals(x, HostData.toDoubles(b.get(p.name()).value()), 0, p.name() + " is not deterministic for a seed");
                switch (p.spec().init()) {
                    case Init.Zeros z -> { for (double e : x) assertEquals(0.0, e, 0, p.name() + " must start at zero"); }
                    case Init.Values vals -> assertArrayEquals(vals.values(), x, 0, p.name());
                    case Init.Uniform u -> {
                        long rows = u.rows() < 0 ? p.spec().rows() : u.rows();
                        int n = Math.toIntExact(rows * p.spec().cols());
                        double max = 0, sum = 0, sq = 0;
                        for (int i = 0; i < n; i++) { max = Math.max(max, Math.abs(x[i])); sum += x[i]; sq += x[i] * x[i]; }
                        for (int i = n; i < x.length; i++) assertEquals(0.0, x[i], 0, p.name() + " rows past " + rows + " must be zero");
                        assertTrue(max <= u.bound(), p.name() + " exceeds its bound");
                        assertTrue(max > 0.99 * u.bound(), p.name() + " does not reach its bound: " + max);
                        double var = sq / n - (sum / n) * (sum / n), want = u.bound() * u.bound() / 3;
                        assertEquals(want, var, 0.05 * want, p.name() + " variance");
                        assertEquals(0.0, sum / n, 4 * Math.sqrt(want / n), p.name() + " mean");
                        assertFalse(java.util.Arrays.equals(x, HostData.toDoubles(c.get(p.name()).value())), p.name() + " ignores the seed");
                    }
                    case Init.Normal nrm -> {
                        double sum = 0, sq = 0;
                        for (double e : x) { sum += e; sq += e * e; }
                        double std = Math.sqrt(sq / x.length - (sum / x.length) * (sum / x.length));
                        assertEquals(nrm.std(), std, 0.03 * nrm.std(), p.name() + " std");
                        assertEquals(0.0, sum / x.length, 4 * nrm.std() / Math.sqrt(x.length), p.name() + " mean");
                    }
                }
            }
            double bound = Math.sqrt(3) / Math.sqrt(CFG.modelDim());
            assertEquals(bound, ((Init.Uniform) a.get("blocks.0.attn.qkvo_w").spec().init()).bound(), 1e-15);
            assertEquals(0.5 * bound, ((Init.Uniform) a.get("blocks.0.mlp.c_fc").spec().init()).bound(), 1e-15);
            // Record 177's half-size Q/K/V init scales only the Q/K/V rows' bound.
            List<ParamSpec> half = Gpt.specs(CFG.withQkvInitScale(0.5), a.worldSize());
            for (ParamSpec s : half) {
                ParamSpec full = a.get(s.name()).spec();
                if (s.name().endsWith(".attn.qkvo_w")) assertEquals(0.5 * bound, ((Init.Uniform) s.init()).bound(), 1e-15);
                else if (s.init() instanceof Init.Values v) assertArrayEquals(((Init.Values) full.init()).values(), v.values(), s.name());
                else assertEquals(full.init(), s.init(), s.name());
            }
            assertFalse(a.get("embed.weight").hasGrad(), "embed has no gradient while tied");
            a.setSplitEmbed(true);
            assertTrue(a.get("embed.weight").hasGrad());
        }
    }

    @Test void trainingStepsAllocateNothing() {
        GptConfig tiny = GptConfig.preset("tiny");
        try (Gpt gpt = new Gpt(tiny, Kernels.cpu(), DType.F32, 32, 1, 1)) {
            long before = gpt.allocatedBytes();
            java.util.SplittableRandom r = new java.util.SplittableRandom(5);
            for (int T : new int[] {32, 17, 1}) {
                int[] in = r.ints(T, 0, tiny.vocabSize()).toArray(), tg = r.ints(T, 0, tiny.vocabSize()).toArray();
                double loss = gpt.forwardBackward(in, tg, new int[] {0, T / 2, T, T}, 1, 2, TestSupport.LOSS, new double[] {1, 0.5}, 1.0 / 8);
                assertTrue(Double.isFinite(loss) && loss > 0, "loss " + loss);
                assertTrue(Double.isFinite(gpt.evaluate(in, tg, new int[] {0, T}, 1, 2, TestSupport.LOSS)));
            }
            assertEquals(before, gpt.allocatedBytes(), "a step allocated backend memory");
            assertThrows(IllegalArgumentException.class, () -> gpt.forwardBackward(new int[33], new int[33], new int[] {0, 33}, 1, 2,
                    TestSupport.LOSS, new double[] {1}, 1));
            assertThrows(IllegalArgumentException.class, () -> gpt.evaluate(new int[] {tiny.vocabSize()}, new int[] {0}, new int[] {0, 1}, 1, 2, TestSupport.LOSS));
        }
    }
}
