package dev.speedrun.optim;

import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.Ops;
import dev.speedrun.model.Parameter;
import dev.speedrun.tensor.MemoryArena;
import java.util.List;

/**
 * What every optimizer instance holds: its configuration, the parameters it claims, the rank's ops
 * and collectives, and one arena on the ops' backend for its state, freed by {@link #close}.
 */
abstract class AbstractOptimizer implements Optimizer {
    protected final OptimizerConfig config;
    protected final Ops ops;
    protected final Collectives coll;
    /** The optimizer's state (moments, stacks, scratch); allocations are zero-filled. */
    protected final MemoryArena arena;
    private final List<Parameter> params;

    AbstractOptimizer(OptimizerConfig config, List<Parameter> params, OptimizerContext ctx) {
        this.config = config;
        this.ops = ctx.ops();
        this.coll = ctx.collectives();
        this.params = List.copyOf(params);
        this.arena = ops.backend().newArena();
    }

    @Override public final OptimizerConfig config() { return config; }

    @Override public final List<Parameter> parameters() { return params; }

    @Override public void close() { arena.close(); }
}
