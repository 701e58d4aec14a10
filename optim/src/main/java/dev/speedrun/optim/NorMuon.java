package dev.speedrun.optim;

import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.Collectives.Reduce;
import dev.speedrun.model.Parameter;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Shape;
import dev.speedrun.tensor.Tensor;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * NorMuon (spec §5), every step, for 2-D parameters:
 * <ol>
 *   <li>momentum with the Nesterov mix: {@code buf = m·buf + (1−m)·g; u = (1−m)·g + m·buf};</li>
 *   <li>matrices of a {@link OptimizerConfig#squareBlockLabels() square-block label} become R/C
 *       square blocks [C, C] (attn: Q, K, V, O);</li>
 *   <li>{@link PolarExpress} per block, in {@link OptimizerConfig#polarDType()} (BF16 in mixed
 *       precision, as the record; else the update's dtype);</li>
 *   <li>variance reduction per block with one second-moment value per row (state);</li>
 *   <li>{@code p ← p − p·mask·(wd·wd_mul·lr)·lr_eff − v·lr_eff},
 *       {@code lr_eff = lr·lr_mul·sqrt(max(1, R/C))} of the full parameter shape; mask: the
 *       configured {@code DecayMask} on v·p.</li>
 * </ol>
 * Sharding (spec §6): parameters of equal shape (and block split) form a group; their gradients
 * are stacked [n, R, C], padded with zero matrices to a multiple of the world size,
 * reduce-scattered (average) so that each rank owns n_pad/world matrices (and only their state),
 * updates those, and the parameters are all-gathered back.
 *
 * <p>Overlap (the record's order, one step further): on several ranks, {@link #gradientReady}
 * stacks each gradient into its group's stack as the backward finishes it, and starts the group's
 * reduce-scatter asynchronously once the last member's gradient is in (on a GPU it runs while the
 * backward goes on). {@link #step} then starts the reduce-scatters of the groups the hook did not
 * complete, and group by group awaits the reduce-scatter, updates this rank's matrices and starts
 * the group's all-gather asynchronously; it awaits all gathers at its end, before copying the
 * gathered matrices into the parameters. Same arithmetic as the synchronous order: same results,
 * bit for bit.
 *
 * <p>Dtypes: the momentum buffer and second moments in {@link OptimizerConfig#stateDType()} (null:
 * the parameter's dtype, the record's rule: F32 for attn/mlp, BF16 for the BF16 attn_gate), the
 * gradient stack in the gradient's dtype (averaged in it, as the record's reduce-scatter).
 */
public final class NorMuon extends AbstractOptimizer {
    public static final String MOMENTUM_BUFFER = "momentum_buffer";
    public static final String SECOND_MOMENTUM = "second_momentum";

    /** One parameter: its block geometry, its owner rank and (on the owner) its state. */
    private static final class Matrix {
        final Parameter p;
        final Group group;
        final int index;     // position in the group's stack
        final int owner;
        /** The step whose gradient is in the group's stack (set by {@link #gradientReady}); -1: none yet. */
        long stackedStep = -1;
        Tensor buf;          // [R*C] momentum buffer, owner only
        Tensor s2;           // [blocks, R/blocks] second moments, owner only

        Matrix(Parameter p, Group group, int index, int owner) {
            this.p = p;
            this.group = group;
            this.index = index;
            this.owner = owner;
        }
    }

    private record GroupKey(long rows, long cols, int blocks, DType valueType, DType gradType) {}

    /** Equally shaped parameters and, on more than one rank, their stacks. */
    private static final class Group {
        final GroupKey key;
        final List<Matrix> members = new ArrayList<>();
        int perRank;
        Tensor gradStack;  // [n_pad, R, C] grad dtype
        Tensor valueStack; // [n_pad, R, C] value dtype
        /** Members stacked by the hook for {@link #pendingStep}, and the reduce-scatter started once all were. */
        int stacked;
        long pendingStep = -1;
        Collectives.Pending scatter, gather;

        Group(GroupKey key) { this.key = key; }
    }

    /**
     * Scratch for one block geometry: the momentum update u [B, r, c] (the parameter's dtype);
     * Polar Express's x and tmp [B, r, c] and Gram matrices a, b [B, k, k] in the Polar Express
     * dtype, where x is u itself when that dtype is u's.
     */
    private record Work(Tensor u, Tensor x, Tensor tmp, Tensor a, Tensor b) {}

    private final List<Group> groups = new ArrayList<>();
    private final Map<Parameter, Matrix> matrices = new HashMap<>();
    private final Map<GroupKey, Work> work = new HashMap<>();

    public NorMuon(OptimizerConfig config, List<Parameter> params, OptimizerContext ctx) {
        super(config, params, ctx);
        int world = coll.worldSize(), rank = coll.rank();
        Map<GroupKey, Group> byKey = new LinkedHashMap<>();
        for (Parameter p : params) {
            Shape s = p.value().shape();
            if (s.rank() != 2)
                throw new IllegalArgumentException("NorMuon '" + config.name() + "' takes matrices; '" + p.name()
                        + "' (label " + p.label() + ") has shape " + s);
            long rows = s.dim(0), cols = s.dim(1);
            int blocks = 1;
            if (config.squareBlockLabels().contains(p.label())) {
                if (rows % cols != 0)
                    throw new IllegalArgumentException("NorMuon '" + config.name() + "': '" + p.name() + "' " + s
                            + " cannot be split into square blocks (rows not a multiple of cols)");
                blocks = Math.toIntExact(rows / cols);
            }
            GroupKey key = new GroupKey(rows, cols, blocks, p.value().dtype(), p.grad().dtype());
            byKey.computeIfAbsent(key, Group::new);
        }
        for (Parameter p : params) {
            Shape s = p.value().shape();
            int blocks = config.squareBlockLabels().contains(p.label()) ? Math.toIntExact(s.dim(0) / s.dim(1)) : 1;
            Group g = byKey.get(new GroupKey(s.dim(0), s.dim(1), blocks, p.value().dtype(), p.grad().dtype()));
            g.members.add(new Matrix(p, g, g.members.size(), -1));
        }
        for (Group g : byKey.values()) {
            int n = g.members.size();
            g.perRank = (n + world - 1) / world;
            List<Matrix> placed = new ArrayList<>();
            for (Matrix m : g.members) placed.add(new Matrix(m.p, g, m.index, m.index / g.perRank));
            g.members.clear();
            g.members.addAll(placed);
            GroupKey k = g.key;
            DType sd = config.stateDType() != null ? config.stateDType() : k.valueType();
            for (Matrix m : g.members) {
                matrices.put(m.p, m);
                if (m.owner == rank) {
                    m.buf = arena.allocate(sd, k.rows() * k.cols());
                    m.s2 = arena.allocate(sd, k.blocks(), k.rows() / k.blocks());
                }
            }
            if (world > 1) {
                long nPad = (long) g.perRank * world;
                g.gradStack = arena.allocate(k.gradType(), nPad, k.rows(), k.cols());   // pad slots stay zero
                g.valueStack = arena.allocate(k.valueType(), nPad, k.rows(), k.cols());
            }
            work.computeIfAbsent(k, this::newWork);
            groups.add(g);
        }
    }

    private Work newWork(GroupKey k) {
        long r = k.rows() / k.blocks(), c = k.cols(), gram = PolarExpress.gramSize(r, c);
        DType d = k.valueType(), pd = polarDType(k);
        Tensor u = arena.allocate(d, k.blocks(), r, c);
        Tensor x = pd == d ? u : arena.allocate(pd, k.blocks(), r, c);
        return new Work(u, x, arena.allocate(pd, k.blocks(), r, c),
                arena.allocate(pd, k.blocks(), gram, gram), arena.allocate(pd, k.blocks(), gram, gram));
    }

    /** The dtype Polar Express runs in for a group: the configured one, else the update's (value) dtype. */
    private DType polarDType(GroupKey k) { return config.polarDType() != null ? config.polarDType() : k.valueType(); }

    /** The dtype Polar Express runs in for {@code p} (visible for the dtype tests and docs). */
    public DType polarExpressDType(Parameter p) { return polarDType(matrix(p).group.key); }

    /** {@code sqrt(max(1, rows/cols))} of the full parameter shape. */
    public static double shapeMultiplier(Shape shape) {
        return Math.sqrt(Math.max(1.0, (double) shape.dim(0) / shape.dim(1)));
    }

    @Override public boolean stepsAt(StepPlan plan) { return true; }

    /** Rank that holds {@code p}'s state and computes its update. */
    public int owner(Parameter p) { return matrix(p).owner; }

    /**
     * Stacks {@code p}'s final gradient (several ranks) and, when it completes its group, starts the
     * group's reduce-scatter: nothing writes the stack until {@link #step} has awaited it (the
     * next stacking is the next step's hook).
     */
    @Override public void gradientReady(Parameter p, StepPlan plan) {
        Matrix m = matrices.get(p);
        if (m == null || coll.worldSize() == 1) return;
        Group g = m.group;
        if (g.pendingStep != plan.step()) {
            if (g.scatter != null) g.scatter.await();   // a step that never ran (it failed): its collective is dropped
            g.scatter = null;
            g.stacked = 0;
            g.pendingStep = plan.step();
        }
        if (m.stackedStep == plan.step()) return;
        stack(m);
        m.stackedStep = plan.step();
        if (++g.stacked == g.members.size()) g.scatter = startScatter(g);
    }

    /** The gradient into its slot of the group's stack (zeros for a parameter without one). */
    private void stack(Matrix m) {
        Tensor slot = m.group.gradStack.get(m.index);
        if (m.p.hasGrad()) ops.convert(slot, m.p.grad());
        else ops.fill(slot, 0);
    }

    /** The stack's average over the ranks; this rank's matrices [perRank, R, C] in place. */
    private Collectives.Pending startScatter(Group g) {
        long from = (long) coll.rank() * g.perRank;
        return coll.reduceScatterAsync(g.gradStack.slice(from, from + g.perRank), g.gradStack, Reduce.AVG);
    }

    @Override public void step(StepPlan plan) {
        int world = coll.worldSize(), rank = coll.rank();
        if (world == 1) {
            for (Group g : groups) for (Matrix m : g.members) if (m.p.hasGrad()) update(m, m.p.grad(), plan);
            return;
        }
        // every group's reduce-scatter first (those the hook has not started), as the record
        for (Group g : groups) {
            if (g.scatter != null && g.pendingStep == plan.step()) continue;
            if (g.scatter != null) g.scatter.await();
            for (Matrix m : g.members) if (m.stackedStep != plan.step()) stack(m);
            g.scatter = startScatter(g);
        }
        // then group by group: wait, update this rank's share, start the all-gather
        for (Group g : groups) {
            long from = (long) rank * g.perRank, to = from + g.perRank;
            g.scatter.await();
            g.scatter = null;
            g.pendingStep = -1;
            for (Matrix m : g.members) {
                m.stackedStep = -1;
                if (m.owner != rank) continue;
                if (m.p.hasGrad()) update(m, g.gradStack.get(m.index), plan);
                ops.convert(g.valueStack.get(m.index), m.p.value());
            }
            // in place; nothing touches the value stack until its await below
            g.gather = coll.allGatherAsync(g.valueStack, g.valueStack.slice(from, to));
        }
        for (Group g : groups) {
            g.gather.await();
            g.gather = null;
            for (Matrix m : g.members) if (m.owner != rank) ops.convert(m.p.value(), g.valueStack.get(m.index));
        }
    }

    /** The NorMuon update of one matrix on its owner; {@code grad} [R, C] is the averaged gradient. */
    private void update(Matrix m, Tensor grad, StepPlan plan) {
        GroupKey k = m.group.key;
        Work w = work.get(k);
        long n = k.rows() * k.cols();
        Tensor u = w.u().reshape(n);
        ops.muonMomentum(u, m.buf, grad.reshape(n), plan.muonMomentum());
        // In another Polar Express dtype (BF16 in mixed precision) the update is rounded to it
        // first, as the record's X = G.bfloat16(); the orthogonalised update stays in that dtype
        // through the variance reduction into the parameter update, as the record's v_chunk.
        if (w.x() != w.u()) ops.convert(w.x(), w.u());
        PolarExpress.apply(ops, w.x(), w.tmp(), w.a(), w.b());
        ops.varianceReduce(w.x(), m.s2, config.beta2());
        double lr = config.lr() * plan.lrMultiplier();
        double lrEff = lr * m.p.spec().lrMul() * shapeMultiplier(m.p.value().shape());
        double decay = config.weightDecay() * m.p.spec().wdMul() * lr * lrEff;
        ops.decayedUpdate(m.p.value().reshape(n), w.x().reshape(n), lrEff, decay, config.decayMask());
    }

    @Override public List<String> stateNames() { return List.of(MOMENTUM_BUFFER, SECOND_MOMENTUM); }

    @Override public ParamState exportState(Parameter p, MemoryArena into) {
        Matrix m = matrix(p);
        GroupKey k = m.group.key;
        DType sd = config.stateDType() != null ? config.stateDType() : k.valueType();
        Tensor buf = into.allocate(sd, k.rows(), k.cols());
        Tensor s2 = into.allocate(sd, k.blocks(), k.rows() / k.blocks());
        if (m.owner == coll.rank()) {
            ops.convert(buf.reshape(buf.numel()), m.buf);
            ops.convert(s2, m.s2);
        }
        if (coll.worldSize() > 1) {
            coll.broadcast(buf, m.owner);
            coll.broadcast(s2, m.owner);
        }
        return new ParamState(0, Map.of(MOMENTUM_BUFFER, buf, SECOND_MOMENTUM, s2));
    }

    @Override public void importState(Parameter p, ParamState state) {
        Matrix m = matrix(p);
        GroupKey k = m.group.key;
        Tensor buf = state.tensor(MOMENTUM_BUFFER), s2 = state.tensor(SECOND_MOMENTUM);
        if (buf.numel() != k.rows() * k.cols() || s2.numel() != k.rows())
            throw new IllegalArgumentException("NorMuon state for '" + p.name() + "' has sizes " + buf.shape() + " and "
                    + s2.shape() + "; expected " + k.rows() * k.cols() + " and " + k.rows() + " elements");
        if (m.owner != coll.rank()) return;
        ops.convert(m.buf, buf.reshape(buf.numel()));
        ops.convert(m.s2, s2.reshape(k.blocks(), k.rows() / k.blocks()));
    }

    private Matrix matrix(Parameter p) {
        Matrix m = matrices.get(p);
        if (m == null)
            for (Matrix x : matrices.values()) if (x.p.name().equals(p.name())) m = x;
        return Objects.requireNonNull(m, () -> "parameter '" + p.name() + "' is not optimised by '" + config.name() + "'");
    }
}
