package dev.speedrun.optim;

import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.collective.InProcessCollectives;
import dev.speedrun.model.GradientListener;
import dev.speedrun.model.Parameter;
import dev.speedrun.model.ParameterTable;
import dev.speedrun.tensor.MemoryArena;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;

/**
 * The optimizers of one rank, built from configurations by label, stepped together. This is what
 * the trainer holds; see docs/optim.md.
 *
 * <p>Gradient ownership: the trainer zeroes every gradient once before the first backward; after
 * that {@link #step} zeroes exactly the gradients it consumed (those of instances that stepped and
 * of frozen instances, whose gradients are discarded). Instances that did not step this time
 * (Adam on even steps) keep their gradients, so the next backward adds to them.
 */
public final class Optimizers implements AutoCloseable {
    private final List<Optimizer> optimizers;
    private final Map<String, Optimizer> byParam = new LinkedHashMap<>();
    private final Ops ops;

    private Optimizers(List<Optimizer> optimizers, Ops ops) {
        this.optimizers = List.copyOf(optimizers);
        this.ops = ops;
        for (Optimizer o : optimizers) for (Parameter p : o.parameters()) byParam.put(p.name(), o);
    }

    /** Single rank. */
    public static Optimizers build(List<OptimizerConfig> configs, ParameterTable table, Ops ops) {
        return build(configs, table, ops, InProcessCollectives.create(1).getFirst());
    }

    /**
     * Routes the parameters by label ({@link #route}), finds each config's provider by type
     * (ServiceLoader), and creates the instances in config order.
     */
    public static Optimizers build(List<OptimizerConfig> configs, ParameterTable table, Ops ops, Collectives collectives) {
        Map<OptimizerConfig, List<Parameter>> routed = route(configs, table);
        Map<String, OptimizerProvider> providers = providers();
        List<Optimizer> built = new ArrayList<>();
        try {
            for (OptimizerConfig c : configs) {
                OptimizerProvider provider = providers.get(c.type());
                if (provider == null)
                    throw new IllegalArgumentException("optimizer '" + c.name() + "' has unknown type '" + c.type()
                            + "' (valid: " + String.join(", ", providers.keySet().stream().sorted().toList()) + ")");
                built.add(provider.create(c, routed.get(c), new OptimizerContext(ops, collectives)));
            }
        } catch (RuntimeException e) {
            built.forEach(Optimizer::close);
            throw e;
        }
        return new Optimizers(built, ops);
    }

    /** The optimizer providers on the class path, by type name. */
    public static Map<String, OptimizerProvider> providers() {
        Map<String, OptimizerProvider> m = new LinkedHashMap<>();
        for (OptimizerProvider p : ServiceLoader.load(OptimizerProvider.class)) m.putIfAbsent(p.name(), p);
        return m;
    }

    /**
     * Which parameters each config claims (table order). Every parameter must be claimed by
     * exactly one config: the error names each unclaimed parameter (with its label) and each
     * parameter claimed twice (with the claiming optimizers). Instance names must be unique.
     */
    public static Map<OptimizerConfig, List<Parameter>> route(List<OptimizerConfig> configs, ParameterTable table) {
        Set<String> names = new HashSet<>();
        for (OptimizerConfig c : configs)
            if (!names.add(c.name())) throw new IllegalArgumentException("two optimizers named '" + c.name() + "'");
        Map<OptimizerConfig, List<Parameter>> routed = new LinkedHashMap<>();
        for (OptimizerConfig c : configs) routed.put(c, new ArrayList<>());
        List<String> unclaimed = new ArrayList<>(), doubly = new ArrayList<>();
        for (Parameter p : table.parameters()) {
            List<String> claimers = new ArrayList<>();
            for (OptimizerConfig c : configs) {
                if (c.labels().contains(p.label())) {
                    claimers.add(c.name());
                    routed.get(c).add(p);
                }
            }
            if (claimers.isEmpty()) unclaimed.add(p.name() + " (label " + p.label() + ")");
            else if (claimers.size() > 1) doubly.add(p.name() + " (label " + p.label() + ") by " + String.join(" and ", claimers));
        }
        if (!unclaimed.isEmpty() || !doubly.isEmpty()) {
            StringBuilder sb = new StringBuilder("every parameter must be claimed by exactly one optimizer:");
            if (!unclaimed.isEmpty()) sb.append(" unclaimed: ").append(String.join(", ", unclaimed)).append(';');
            if (!doubly.isEmpty()) sb.append(" claimed twice: ").append(String.join(", ", doubly)).append(';');
            throw new IllegalArgumentException(sb.toString());
        }
        return routed;
    }

    public List<Optimizer> optimizers() { return optimizers; }

    /** The instance called {@code name}. */
    public Optimizer get(String name) {
        for (Optimizer o : optimizers) if (o.name().equals(name)) return o;
        throw new IllegalArgumentException("no optimizer '" + name + "' (have: "
                + String.join(", ", optimizers.stream().map(Optimizer::name).toList()) + ")");
    }

    /** The instance that optimises the parameter called {@code param}. */
    public Optimizer ownerOf(String param) {
        Optimizer o = byParam.get(param);
        if (o == null) throw new IllegalArgumentException("no optimizer holds parameter '" + param + "'");
        return o;
    }

    /**
     * One optimizer step of this rank (a collective: every rank calls it with the same plan). For
     * each instance in config order: frozen → gradients zeroed, no update; steps at the plan →
     * update, then its gradients zeroed; otherwise nothing (gradients accumulate).
     */
    public void step(StepPlan plan) {
        for (Optimizer o : optimizers) {
            if (plan.frozen().contains(o.name())) {
                zeroGrads(o);
            } else if (o.stepsAt(plan)) {
                o.step(plan);
                zeroGrads(o);
            }
        }
    }

    /**
     * The model's gradient-ready hook for the last backward before {@link #step}{@code (plan)}:
     * each final gradient goes to its instance's {@link Optimizer#gradientReady} when that instance
     * steps at {@code plan} (not frozen, {@link Optimizer#stepsAt}); gradients of instances that
     * keep accumulating (Adam on even steps) or are discarded (frozen) are left alone.
     */
    public GradientListener gradientListener(StepPlan plan) {
        return p -> {
            Optimizer o = byParam.get(p.name());
            if (o != null && !plan.frozen().contains(o.name()) && o.stepsAt(plan)) o.gradientReady(p, plan);
        };
    }

    /** Zeroes every gradient (the trainer calls this once before the first backward). */
    public void zeroAllGrads() { for (Optimizer o : optimizers) zeroGrads(o); }

    private void zeroGrads(Optimizer o) { for (Parameter p : o.parameters()) ops.fill(p.grad(), 0); }

    /** The whole state of one parameter (a collective). */
    public ParamState exportState(String param, MemoryArena into) {
        Optimizer o = ownerOf(param);
        return o.exportState(parameter(o, param), into);
    }

    public void importState(String param, ParamState state) {
        Optimizer o = ownerOf(param);
        o.importState(parameter(o, param), state);
    }

    /**
     * Copies the state of {@code from} into {@code to} (the untie plugin: lm_head's Adam moments
     * and step count into embed). Both must be held by optimizers of the same type. A collective.
     */
    public void copyState(String from, String to) {
        Optimizer src = ownerOf(from), dst = ownerOf(to);
        if (!src.config().type().equals(dst.config().type()))
            throw new IllegalArgumentException("cannot copy " + src.config().type() + " state of '" + from + "' into the "
                    + dst.config().type() + " optimizer of '" + to + "'");
        try (MemoryArena scratch = ops.backend().newArena()) {
            dst.importState(parameter(dst, to), src.exportState(parameter(src, from), scratch));
        }
    }

    private static Parameter parameter(Optimizer o, String name) {
        for (Parameter p : o.parameters()) if (p.name().equals(name)) return p;
        throw new IllegalArgumentException("optimizer '" + o.name() + "' does not hold '" + name + "'");
    }

    @Override public void close() { optimizers.forEach(Optimizer::close); }
}
