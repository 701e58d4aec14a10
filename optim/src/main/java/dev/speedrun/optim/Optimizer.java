package dev.speedrun.optim;

import dev.speedrun.model.Parameter;
import dev.speedrun.tensor.MemoryArena;
import java.util.List;

/**
 * One optimizer instance over the parameters its labels claim. On N ranks every rank holds one
 * instance per configured optimizer and calls the same methods in the same order (they run
 * collectives). Gradients are averaged across ranks inside {@link #step}; the caller zeroes them
 * afterwards ({@link Optimizers} does).
 */
public interface Optimizer extends AutoCloseable {
    OptimizerConfig config();

    default String name() { return config().name(); }

    /** The claimed parameters, in table order. */
    List<Parameter> parameters();

    /** Whether this instance updates at {@code plan}; when false its gradients keep accumulating. */
    boolean stepsAt(StepPlan plan);

    /**
     * Synchronises the gradients across ranks and updates every parameter that has a gradient
     * ({@link Parameter#hasGrad()}); parameters without one are skipped (state untouched).
     * Does not zero gradients. Leaves the gradient buffers' contents undefined.
     */
    void step(StepPlan plan);

    /**
     * {@code p}'s gradient is final for the step of {@code plan}, which this instance steps at: the
     * backward will not touch it again (the model's gradient-ready hook in the step's last
     * backward, routed by {@link Optimizers#gradientListener}). An instance may start the
     * gradient's collectives here, asynchronously, and await them in {@link #step} (the record's
     * overlap of communication with the backward; docs/optim.md). Called in the backward's order,
     * the same on every rank; {@link #step} must give the same result whether or not this was
     * called. The default does nothing.
     */
    default void gradientReady(Parameter p, StepPlan plan) {}

    /** Names of the tensors in this optimizer's {@link ParamState}. */
    List<String> stateNames();

    /**
     * The whole state of {@code p}, gathered from the ranks that hold it into tensors allocated in
     * {@code into} (state dtype). A collective: every rank must call it.
     */
    ParamState exportState(Parameter p, MemoryArena into);

    /**
     * Replaces the state of {@code p}; each rank keeps the part it holds. The tensors may have any
     * float dtype and must have the sizes {@link #exportState} produces.
     */
    void importState(Parameter p, ParamState state);

    /** Frees the state. */
    @Override void close();
}
