package dev.speedrun.optim;

import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.Collectives.Reduce;
import dev.speedrun.model.Parameter;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Adam with per-parameter lr_mul / wd_mul, bias correction and the configured decay mask (spec §5),
 * sharded as spec §6: a parameter of at least {@link #SHARD_MIN_NUMEL} elements whose dim 0 divides
 * by the world size is reduce-scattered along dim 0 (average), each rank updates its rows with
 * moments for those rows only (ZeRO-1), and the rows are all-gathered; smaller parameters (and,
 * unlike the record, which requires divisibility, any whose dim 0 does not divide) are all-reduced
 * and updated on every rank.
 *
 * <p>Overlap (the record's DistAdam): on several ranks, {@link #gradientReady} starts a parameter's
 * reduce-scatter or all-reduce asynchronously as soon as the backward has finished its gradient;
 * {@link #step} awaits each just before that parameter's update (starting the collective itself
 * for parameters the hook did not announce) and all-gathers the sharded rows asynchronously,
 * awaiting all gathers at its end. The arithmetic is that of the synchronous order, so the result
 * is the same bit for bit.
 *
 * <p>With {@code lr = initial_lr · multiplier · lr_mul}: the Ops kernel computes
 * {@code u = m/(√v+eps)·lr·√(1−β2ᵗ)/(1−β1ᵗ)}, {@code u += p·mask·decay}, {@code p −= u} with
 * {@code decay = lr·wd·wd_mul·lr}.
 */
public final class Adam extends AbstractOptimizer {
    /** Parameters with fewer elements are all-reduced instead of sharded (the record's 1024). */
    public static final long SHARD_MIN_NUMEL = 1024;
    public static final String EXP_AVG = "exp_avg";
    public static final String EXP_AVG_SQ = "exp_avg_sq";

    /** Per-parameter state: moments [shardNumel] (this rank's rows when sharded) and step count. */
    private static final class Slot {
        final Parameter p;
        final boolean sharded;
        final long shardNumel;
        final Tensor m, v;
        long step;
        /** The gradient's collective started by {@link #gradientReady}, and for which step; null: none. */
        Collectives.Pending sync;
        long syncStep;

        Slot(Parameter p, boolean sharded, long shardNumel, Tensor m, Tensor v) {
            this.p = p;
            this.sharded = sharded;
            this.shardNumel = shardNumel;
            this.m = m;
            this.v = v;
        }
    }

    private final List<Slot> slots = new ArrayList<>();
    /** {@link #slots} by parameter object: {@link #slot}'s and the gradient hook's lookup. */
    private final Map<Parameter, Slot> byParam = new IdentityHashMap<>();
    /** The all-gathers started by {@link #step}, awaited at its end. */
    private final List<Collectives.Pending> gathers = new ArrayList<>();

    public Adam(OptimizerConfig config, List<Parameter> params, OptimizerContext ctx) {
        super(config, params, ctx);
        int world = coll.worldSize();
        for (Parameter p : params) {
            long numel = p.value().numel();
            long dim0 = p.value().rank() == 0 ? 1 : p.value().dim(0);
            boolean sharded = world > 1 && numel >= SHARD_MIN_NUMEL && dim0 % world == 0;
            long n = sharded ? numel / world : numel;
            DType sd = config.stateDType() != null ? config.stateDType() : p.value().dtype();
            // allocations are zero-filled: fresh moments
            Slot s = new Slot(p, sharded, n, arena.allocate(sd, n), arena.allocate(sd, n));
            slots.add(s);
            byParam.put(p, s);
        }
    }

    @Override public boolean stepsAt(StepPlan plan) { return plan.adamStep(); }

    /** Whether {@code p}'s state and update are sharded across ranks (visible for tests and docs). */
    public boolean isSharded(Parameter p) { return slot(p).sharded; }

    /**
     * Starts {@code p}'s gradient collective (several ranks): the gradient is final, and nothing
     * writes it before {@link #step} awaits the collective (the backward is done with it, and the
     * gradients are zeroed only after the step).
     */
    @Override public void gradientReady(Parameter p, StepPlan plan) {
        Slot s = byParam.get(p);
        if (s == null || coll.worldSize() == 1 || !p.hasGrad()) return;
        if (s.sync != null) s.sync.await();   // a step that never ran (it failed): its collective is dropped
        s.sync = startSync(s);
        s.syncStep = plan.step();
    }

    /** The gradient's average over the ranks: this rank's rows in place (sharded), else all of it. */
    private Collectives.Pending startSync(Slot s) {
        Tensor grad = flat(s.p.grad());
        if (!s.sharded) return coll.allReduceAsync(grad, Reduce.AVG);
        return coll.reduceScatterAsync(grad.view(coll.rank() * s.shardNumel, s.shardNumel), grad, Reduce.AVG);   // in place
    }

    @Override public void step(StepPlan plan) {
        int world = coll.worldSize();
        for (Slot s : slots) {
            if (!s.p.hasGrad()) continue;
            double lr = config.lr() * plan.lrMultiplier() * s.p.spec().lrMul();
            double decay = lr * config.weightDecay() * s.p.spec().wdMul() * lr;
            Tensor value = flat(s.p.value()), grad = flat(s.p.grad());
            s.step++;
            if (world == 1) {
                update(s, value, grad, lr, decay);
                continue;
            }
            if (s.sync == null || s.syncStep != plan.step()) {
                if (s.sync != null) s.sync.await();
                s.sync = startSync(s);
            }
            s.sync.await();   // the averaged gradient is read below
            s.sync = null;
            if (s.sharded) {
                long off = coll.rank() * s.shardNumel;
                Tensor gShard = grad.view(off, s.shardNumel), pShard = value.view(off, s.shardNumel);
                update(s, pShard, gShard, lr, decay);
                // in place; nothing reads or writes the value until the await below
                gathers.add(coll.allGatherAsync(value, pShard));
            } else {
                update(s, value, grad, lr, decay);
            }
        }
        for (Collectives.Pending g : gathers) g.await();
        gathers.clear();
    }

    private void update(Slot s, Tensor p, Tensor g, double lr, double decay) {
        ops.adamStep(p, g, s.m, s.v, lr, config.beta1(), config.beta2(), config.eps(), s.step, decay, config.decayMask());
    }

    @Override public List<String> stateNames() { return List.of(EXP_AVG, EXP_AVG_SQ); }

    /** Number of Adam updates applied to {@code p} so far. */
    public long stepCount(Parameter p) { return slot(p).step; }

    @Override public ParamState exportState(Parameter p, MemoryArena into) {
        Slot s = slot(p);
        long[] shape = p.value().shape().dims();
        return new ParamState(s.step, Map.of(EXP_AVG, gather(s, s.m, into, shape), EXP_AVG_SQ, gather(s, s.v, into, shape)));
    }

    private Tensor gather(Slot s, Tensor part, MemoryArena into, long[] shape) {
        Tensor full = into.allocate(part.dtype(), s.p.value().numel());
        if (s.sharded) coll.allGather(full, part);
        else ops.convert(full, part);
        return full.reshape(shape);
    }

    @Override public void importState(Parameter p, ParamState state) {
        Slot s = slot(p);
        Tensor m = state.tensor(EXP_AVG), v = state.tensor(EXP_AVG_SQ);
        long numel = p.value().numel();
        for (Tensor t : List.of(m, v))
            if (t.numel() != numel)
                throw new IllegalArgumentException("Adam state for '" + p.name() + "' has " + t.numel()
                        + " elements, the parameter has " + numel);
        long off = s.sharded ? coll.rank() * s.shardNumel : 0;
        ops.convert(s.m, flat(m).view(off, s.shardNumel));
        ops.convert(s.v, flat(v).view(off, s.shardNumel));
        s.step = state.step();
    }

    private Slot slot(Parameter p) {
        Slot found = byParam.get(p);
        if (found != null) return found;
        for (Slot s : slots) if (s.p.name().equals(p.name())) return s;   // the same parameter of another model object
        throw new IllegalArgumentException("parameter '" + p.name() + "' is not optimised by '" + config.name() + "'");
    }

    static Tensor flat(Tensor t) { return t.reshape(t.numel()); }
}
