package dev.speedrun.schedules;

/**
 * Small callbacks around the training loop (JUnit-5 style: each does one thing, all default to
 * nothing). Hooks run on the trainer's thread in registration order; they act on the model,
 * optimizers and loss through the {@link TrainingContext}.
 */
public interface TrainingHook {
    /** Once, after the model and optimizers exist and before step 0 (also after a resume). */
    default void onRunStart(TrainingContext ctx) {}

    /** Before the forward passes of {@code ctx.step()}. */
    default void onStepStart(TrainingContext ctx) {}

    /** After all micro-batches' backward passes of the step, before any optimizer runs. */
    default void afterBackward(TrainingContext ctx) {}

    /** After the optimizers of {@code ctx.step()} have stepped. */
    default void afterOptimizerStep(TrainingContext ctx) {}

    /** After a validation at {@code ctx.step()} produced {@code valLoss}. */
    default void onValidation(TrainingContext ctx, double valLoss) {}

    /** Once, after the final validation. */
    default void onRunEnd(TrainingContext ctx) {}
}
