package dev.speedrun.schedules;

import dev.speedrun.kernels.Ops;
import dev.speedrun.model.ParameterTable;

/** What a {@link TrainingHook} sees: the step, the schedules, and the objects it may act on. */
public interface TrainingContext {
    /** The current step (0-based; equals {@link #totalSteps()} only for the final validation). */
    int step();

    int totalSteps();

    RecordSchedules schedules();

    /** The model's parameters (values, gradients, labels). */
    ParameterTable parameters();

    /** The ops of the run's backend (for hooks that compute on parameters). */
    Ops ops();

    /**
     * Copies the optimizer state (Adam moments and step count, or Muon buffers) of parameter
     * {@code from} onto parameter {@code to}; both must have the same shape and optimizer.
     */
    void copyOptimizerState(String from, String to);

    /**
     * Tied (default): the input embedding looks tokens up in {@code lm_head.weight} and
     * {@code embed.weight} gets no gradient. Untied: the lookup uses {@code embed.weight}.
     */
    void setEmbeddingTied(boolean tied);
}
