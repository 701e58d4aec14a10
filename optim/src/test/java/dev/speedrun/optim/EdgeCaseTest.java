package dev.speedrun.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.collective.InProcessCollectives;
import dev.speedrun.model.ParamSpec;
import dev.speedrun.model.Parameter;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Shape;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Zero gradients, zero parameters under both cautious masks, parameters without gradients, routing, freezing. */
class EdgeCaseTest {
    private static final Ops OPS = Kernels.cpu();

    private static Optimizers build(List<OptimizerConfig> cfgs, TestTables.Table t) {
        return Optimizers.build(cfgs, t, OPS, InProcessCollectives.create(1).getFirst());
    }

    private static double[] ramp(long n, double scale) {
        double[] v = new double[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = scale * (i % 2 == 0 ? 1 : -1) * (1 + i);
        return v;
    }

    /** A zero gradient leaves Adam's update zero, so only decay acts: u·p = 0 decays under ≥, not under >. */
    @ParameterizedTest
    @ValueSource(strings = {">=", ">"})
    void adamZeroGradientDecaysOnlyUnderGe(String cmp) {
        double lr = 0.1, wd = 0.5, wdMul = 2;
        try (MemoryArena a = OPS.backend().newArena()) {
            var t = TestTables.table(a, DType.F64, List.of(TestTables.spec("w", "w", 1, wdMul, 5)));
            Parameter p = t.parameters().getFirst();
            double[] p0 = ramp(5, 0.1);
            p0[2] = 0; // a zero parameter stays zero either way
            HostData.write(p.value(), p0);
            try (Optimizers o = build(List.of(OptimizerConfig.adam("adam", List.of("w"), lr, 0.9, 0.99, 1e-8, wd)
                    .withDecayMask(TestTables.maskFor(cmp))), t)) {
                o.zeroAllGrads();
                o.step(new StepPlan(1, 1.0, 0.9, true, Set.of()));
                double[] got = HostData.toDoubles(p.value());
                double decay = lr * wd * wdMul * lr;
                for (int i = 0; i < p0.length; i++) {
                    double expect = cmp.equals(">=") ? p0[i] - p0[i] * decay : p0[i];
                    assertEquals(expect, got[i], 1e-15, cmp + " element " + i);
                }
                assertEquals(0.0, got[2]);
                assertEquals(1, ((Adam) o.get("adam")).stepCount(p), "a zero gradient is still a step");
            }
        }
    }

    /** NorMuon on a zero gradient: the orthogonalised update is zero; only the ≥ mask decays. */
    @ParameterizedTest
    @ValueSource(strings = {">=", ">"})
    void normuonZeroGradient(String cmp) {
        double lr = 0.02, wd = 1.5;
        try (MemoryArena a = OPS.backend().newArena()) {
            var t = TestTables.table(a, DType.F64, List.of(TestTables.spec("m", "m", 1, 1, 6, 3)));
            Parameter p = t.parameters().getFirst();
            double[] p0 = ramp(18, 0.05);
            p0[4] = 0;
            HostData.write(p.value(), p0);
            try (Optimizers o = build(List.of(OptimizerConfig.normuon("nm", List.of("m"), lr, 0.95, wd)
                    .withDecayMask(TestTables.maskFor(cmp))), t)) {
                o.zeroAllGrads();
                o.step(new StepPlan(0, 1.0, 0.9, false, Set.of()));
                double[] got = HostData.toDoubles(p.value());
                double lrEff = lr * NorMuon.shapeMultiplier(Shape.of(6, 3));
                for (int i = 0; i < p0.length; i++) {
                    double expect = cmp.equals(">=") ? p0[i] - p0[i] * wd * lr * lrEff : p0[i];
                    assertEquals(expect, got[i], 1e-15, cmp + " element " + i);
                    assertFalse(Double.isNaN(got[i]));
                }
            }
        }
    }

    /** A parameter without a gradient is skipped: value, state and gradient buffer untouched. */
    @Test
    void parameterWithoutGradientIsSkipped() {
        try (MemoryArena a = OPS.backend().newArena()) {
            var t = TestTables.table(a, DType.F64, List.of(TestTables.spec("head", "e", 1, 1, 4, 2),
                    TestTables.spec("embed", "e", 1, 1, 4, 2)));
            Parameter head = t.get("head"), embed = t.get("embed");
            HostData.write(head.value(), ramp(8, 0.3));
            HostData.write(embed.value(), ramp(8, 0.7));
            try (Optimizers o = build(List.of(OptimizerConfig.adam("adam", List.of("e"), 0.1, 0.8, 0.9, 1e-8, 0.01)), t)) {
                o.zeroAllGrads();
                embed.setHasGrad(false);
                HostData.write(head.grad(), ramp(8, 1));
                o.step(new StepPlan(1, 1.0, 0.9, true, Set.of()));
                assertEquals(0, ((Adam) o.get("adam")).stepCount(embed));
                assertEquals(1, ((Adam) o.get("adam")).stepCount(head));
                assertEquals(List.of(ramp(8, 0.7)).getFirst()[3], HostData.toDoubles(embed.value())[3]);
                assertTrue(java.util.Arrays.equals(ramp(8, 0.7), HostData.toDoubles(embed.value())));
                assertFalse(java.util.Arrays.equals(ramp(8, 0.3), HostData.toDoubles(head.value())));
            }
        }
    }

    /** Adam keeps its gradients on even steps (the next backward adds); frozen optimizers discard theirs. */
    @Test
    void gradientsAccumulateForAdamAndAreDiscardedWhenFrozen() {
        try (MemoryArena a = OPS.backend().newArena()) {
            var t = TestTables.table(a, DType.F64, List.of(TestTables.spec("w", "w", 1, 1, 3),
                    TestTables.spec("s", "s", 1, 0, 3), TestTables.spec("m", "m", 1, 1, 2, 2)));
            try (Optimizers o = build(List.of(OptimizerConfig.adam("adam", List.of("w"), 0.1, 0.8, 0.9, 1e-8, 0),
                    OptimizerConfig.adam("scal", List.of("s"), 0.1, 0.8, 0.9, 1e-8, 0),
                    OptimizerConfig.normuon("nm", List.of("m"), 0.02, 0.95, 0)), t)) {
                o.zeroAllGrads();
                for (Parameter p : t.parameters()) HostData.write(p.grad(), ramp(p.grad().numel(), 1));
                double[] w0 = HostData.toDoubles(t.get("w").value());
                o.step(new StepPlan(0, 1.0, 0.9, false, Set.of("scal")));
                assertTrue(java.util.Arrays.equals(ramp(3, 1), HostData.toDoubles(t.get("w").grad())), "Adam grad kept");
                assertTrue(java.util.Arrays.equals(w0, HostData.toDoubles(t.get("w").value())), "Adam did not step");
                assertTrue(java.util.Arrays.stream(HostData.toDoubles(t.get("s").grad())).allMatch(x -> x == 0), "frozen grad discarded");
                assertTrue(java.util.Arrays.stream(HostData.toDoubles(t.get("m").grad())).allMatch(x -> x == 0), "NorMuon grad zeroed");
                o.step(new StepPlan(1, 1.0, 0.9, true, Set.of("scal")));
                assertEquals(0, ((Adam) o.get("scal")).stepCount(t.get("s")), "frozen optimizer stepped");
                assertEquals(1, ((Adam) o.get("adam")).stepCount(t.get("w")));
            }
        }
    }

    @Test
    void routingNamesUnclaimedAndDoublyClaimedParameters() {
        try (MemoryArena a = OPS.backend().newArena()) {
            var t = TestTables.table(a, DType.F32, List.of(TestTables.spec("x", "lx", 1, 1, 2),
                    TestTables.spec("y", "ly", 1, 1, 2), TestTables.spec("z", "lz", 1, 1, 2)));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Optimizers.route(List.of(
                    OptimizerConfig.adam("a1", List.of("ly"), 0.1, 0.8, 0.9, 1e-8, 0),
                    OptimizerConfig.adam("a2", List.of("ly", "lz"), 0.1, 0.8, 0.9, 1e-8, 0)), t));
            assertTrue(e.getMessage().contains("unclaimed: x (label lx)"), e.getMessage());
            assertTrue(e.getMessage().contains("claimed twice: y (label ly) by a1 and a2"), e.getMessage());
            assertFalse(e.getMessage().contains("z (label"), e.getMessage());
            IllegalArgumentException type = assertThrows(IllegalArgumentException.class, () -> build(List.of(
                    new OptimizerConfig("o", "sgd", List.of("lx", "ly", "lz"), 0.1, 0, 0, 0, 0, null, null, null, null)), t));
            assertTrue(type.getMessage().contains("unknown type 'sgd'") && type.getMessage().contains("adam")
                    && type.getMessage().contains("normuon"), type.getMessage());
        }
    }

    @Test
    void providersAreFoundByNameAndDecayIsPlainByDefault() {
        assertTrue(Optimizers.providers().keySet().containsAll(List.of("adam", "normuon")));
        assertEquals(DecayMask.ALL, OptimizerConfig.adam("a", List.of("x"), 0.1, 0.8, 0.9, 1e-8, 0).decayMask());
        assertEquals(DecayMask.ALL, OptimizerConfig.normuon("n", List.of("x"), 0.02, 0.95, 0).decayMask());
    }

    /** Sharding really happens in the synthetic model: Adam slices large tensors, NorMuon spreads owners. */
    @Test
    void shardingLayout() {
        java.util.Map<Integer, String> seen = new java.util.concurrent.ConcurrentHashMap<>();
        InProcessCollectives.run(4, c -> {
            try (MemoryArena a = OPS.backend().newArena()) {
                var t = TestTables.table(a, DType.F32, SyntheticRun.specs());
                try (Optimizers o = Optimizers.build(SyntheticRun.configs(), t, OPS, c)) {
                    Adam adam = (Adam) o.get("adam");
                    NorMuon nm = (NorMuon) o.get("normuon");
                    StringBuilder sb = new StringBuilder();
                    sb.append(adam.isSharded(t.get("lm_head.weight"))).append(' ')
                            .append(adam.isSharded(t.get("smear_gate.weight"))).append(' ');
                    for (int i = 0; i < SyntheticRun.LAYERS; i++) sb.append(nm.owner(t.get("blocks." + i + ".mlp.c_fc")));
                    seen.put(c.rank(), sb.toString());
                }
            }
        });
        // 6 mlp matrices over 4 ranks: 2 per rank, c_fc of layers 0,1,2 are stack slots 0, 2, 4
        for (int r = 0; r < 4; r++) assertEquals("true false 012", seen.get(r), "rank " + r);
    }
}
