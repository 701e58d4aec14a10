package dev.speedrun.optim;

import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.collective.InProcessCollectives;
import dev.speedrun.model.ParamSpec;
import dev.speedrun.model.Parameter;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A small model with the record's parameter structure (names, labels, lr/wd multipliers, attn as
 * 4 square blocks, a c_proj with lr_mul 2, gates, scalars, embeddings; sizes scaled down) trained
 * for a few steps on synthetic gradients by N in-process ranks. The gradient of each step is the
 * mean over {@link #MICRO} global micro-batches; rank k of N holds the mean of its MICRO/N of
 * them, so the rank average equals the 1-rank gradient up to rounding, as in the record
 * (grad_accum = 8 / world, loss / grad_accum).
 */
final class SyntheticRun {
    static final int MICRO = 8;
    static final int D = 16, V = 128, LAYERS = 3;
    static final String SCALARS_OPT = "adam_scalars";
    /** Steps before which the embedding is tied (no gradient); its state comes from lm_head then. */
    static final int SPLIT_STEP = 2;
    /** Steps during which the scalars optimizer is frozen. */
    static final int FROZEN_UNTIL = 2;

    private SyntheticRun() {}

    static List<ParamSpec> specs() {
        List<ParamSpec> s = new ArrayList<>();
        s.add(TestTables.spec("smear_gate.weight", "smear_gate", 0.01, 0, 1, 12));
        s.add(TestTables.spec("value_embeds.0.weight", "value_embed", 75, 1, V, D));
        for (int i = 0; i < LAYERS; i++) {
            s.add(TestTables.spec("blocks." + i + ".attn.qkvo_w", "attn", 1, 1, 4L * D, D));
            s.add(TestTables.spec("blocks." + i + ".attn.attn_gate.weight", "attn_gate", 1, 1, 6, 12));
            s.add(TestTables.spec("blocks." + i + ".mlp.c_fc", "mlp", 1, 1, 4L * D, D));
            s.add(TestTables.spec("blocks." + i + ".mlp.c_proj", "mlp", 2, 1, 4L * D, D));
        }
        s.add(TestTables.spec("lm_head.weight", "lm_head", 1, 1, V, D));
        s.add(TestTables.spec("embed.weight", "embed", 1, 1, V, D));
        s.add(TestTables.spec("x0_lambdas", "x0_lambdas", 5, 0, LAYERS));
        s.add(TestTables.spec("scalars", "scalars", 5, 0, 16));
        return s;
    }

    /** The record's three optimizer instances (§5) with the cautious rules. */
    static List<OptimizerConfig> configs() {
        return List.of(
                OptimizerConfig.normuon("normuon", List.of("attn_gate", "attn", "mlp"), 0.023, 0.95, 1.2)
                        .withSquareBlocks(List.of("attn")).withDecayMask(DecayMask.GE),
                OptimizerConfig.adam("adam", List.of("lm_head", "value_embed", "smear_gate", "x0_lambdas", "embed"),
                        0.008, 0.65, 0.95, 1e-8, 0.005).withDecayMask(DecayMask.GT),
                OptimizerConfig.adam(SCALARS_OPT, List.of("scalars"), 0.008, 0.9, 0.99, 1e-8, 0.005)
                        .withDecayMask(DecayMask.GT));
    }

    static StepPlan plan(int step) {
        return new StepPlan(step, 1.0 - 0.1 * step, 0.85 + 0.02 * step, (step & 1) == 1,
                step < FROZEN_UNTIL ? Set.of(SCALARS_OPT) : Set.of());
    }

    /** Deterministic initial values: random, with one exact zero per parameter. */
    static double[] init(int paramIndex, long n) {
        SplittableRandom r = new SplittableRandom(1000 + paramIndex);
        double[] v = new double[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = 0.1 * r.nextGaussian();
        v[0] = 0;
        return v;
    }

    /** Mean over micro-batches [from, to) of the synthetic gradients of one parameter at one step. */
    static double[] grad(int step, int paramIndex, long n, int from, int to) {
        double[] g = new double[Math.toIntExact(n)];
        for (int q = from; q < to; q++) {
            SplittableRandom r = new SplittableRandom(((long) step * 1_000 + paramIndex) * 100 + q);
            double scale = 1 + paramIndex % 3;
            for (int i = 0; i < g.length; i++) g[i] += scale * r.nextGaussian();
        }
        for (int i = 0; i < g.length; i++) g[i] /= (to - from);
        return g;
    }

    /** A tensor on the host: dims and row-major values. */
    record HostTensor(long[] dims, double[] data) {
        static HostTensor of(Tensor t) { return new HostTensor(t.shape().dims(), HostData.toDoubles(t)); }

        Tensor to(MemoryArena a, DType d) {
            Tensor t = a.allocate(d, dims);
            HostData.write(t, data);
            return t;
        }
    }

    /** Parameters and whole optimizer state after some steps, as a checkpoint would hold them. */
    record Snapshot(Map<String, double[]> values, Map<String, Map<String, HostTensor>> states, Map<String, Long> steps) {}

    /** Result of one rank: its parameter values and (when asked) a snapshot. */
    record Result(Map<Integer, Map<String, double[]>> valuesByRank, Snapshot snapshot) {}

    /**
     * Steps [from, to) on {@code world} ranks, starting from the initial values or {@code resume};
     * returns every rank's parameters and, when {@code save}, rank 0's snapshot after the last step.
     */
    static Result run(int world, DType dtype, int from, int to, Snapshot resume, boolean save) {
        Ops ops = Kernels.cpu();
        Map<Integer, Map<String, double[]>> byRank = new ConcurrentHashMap<>();
        Snapshot[] saved = new Snapshot[1];
        InProcessCollectives.run(world, c -> {
            try (MemoryArena arena = ops.backend().newArena()) {
                TestTables.Table table = TestTables.table(arena, dtype, specs());
                List<Parameter> ps = table.parameters();
                for (int j = 0; j < ps.size(); j++) {
                    Parameter p = ps.get(j);
                    HostData.write(p.value(), resume != null ? resume.values().get(p.name()) : init(j, p.value().numel()));
                }
                try (Optimizers opt = Optimizers.build(configs(), table, ops, c)) {
                    opt.zeroAllGrads();
                    if (resume != null) importAll(opt, ps, resume, arena, dtype);
                    for (int step = from; step < to; step++) {
                        oneStep(opt, table, c, step);
                    }
                    Map<String, double[]> vals = new LinkedHashMap<>();
                    for (Parameter p : ps) vals.put(p.name(), HostData.toDoubles(p.value()));
                    byRank.put(c.rank(), vals);
                    if (save) {
                        Snapshot s = snapshot(opt, ps, arena);
                        if (c.rank() == 0) saved[0] = s;
                    }
                }
            }
        });
        return new Result(byRank, saved[0]);
    }

    /** One training step of one rank: "backward" adds this rank's gradients, then the optimizers step. */
    static void oneStep(Optimizers opt, TestTables.Table table, Collectives c, int step) {
        int per = MICRO / c.worldSize(), from = c.rank() * per;
        List<Parameter> ps = table.parameters();
        Parameter embed = table.get("embed.weight");
        embed.setHasGrad(step >= SPLIT_STEP);
        for (int j = 0; j < ps.size(); j++) {
            Parameter p = ps.get(j);
            if (!p.hasGrad()) continue;
            double[] g = grad(step, j, p.grad().numel(), from, from + per);
            double[] cur = HostData.toDoubles(p.grad());
            for (int i = 0; i < g.length; i++) g[i] += cur[i]; // backward accumulates
            HostData.write(p.grad(), g);
        }
        opt.step(plan(step));
        if (step == SPLIT_STEP - 1) {
            // the untie plugin: embed takes lm_head's value and its Adam state (moments and step count)
            opt.copyState("lm_head.weight", "embed.weight");
            Kernels.cpu().convert(embed.value(), table.get("lm_head.weight").value());
        }
    }

    static Snapshot snapshot(Optimizers opt, List<Parameter> ps, MemoryArena arena) {
        Map<String, double[]> values = new LinkedHashMap<>();
        Map<String, Map<String, HostTensor>> states = new LinkedHashMap<>();
        Map<String, Long> steps = new LinkedHashMap<>();
        for (Parameter p : ps) {
            values.put(p.name(), HostData.toDoubles(p.value()));
            ParamState s = opt.exportState(p.name(), arena);
            Map<String, HostTensor> t = new LinkedHashMap<>();
            s.tensors().forEach((k, v) -> t.put(k, HostTensor.of(v)));
            states.put(p.name(), t);
            steps.put(p.name(), s.step());
        }
        return new Snapshot(values, states, steps);
    }

    static void importAll(Optimizers opt, List<Parameter> ps, Snapshot snap, MemoryArena arena, DType dtype) {
        for (Parameter p : ps) {
            Map<String, Tensor> t = new LinkedHashMap<>();
            snap.states().get(p.name()).forEach((k, v) -> t.put(k, v.to(arena, dtype)));
            opt.importState(p.name(), new ParamState(snap.steps().get(p.name()), t));
        }
    }
}
