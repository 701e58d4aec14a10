package dev.speedrun.model;

/**
 * Told by {@link Gpt}'s backward when a parameter's gradient has received its last contribution of
 * that backward (docs/model.md, "Gradient-ready hook"): from then on the backward neither reads nor
 * writes the gradient, so a collective may start on it while the backward goes on (the record's
 * post-accumulate-grad hooks). Called once per parameter and backward, on the model's thread, in
 * the order the backward finishes the gradients (the last layer's first).
 */
@FunctionalInterface
public interface GradientListener {
    void ready(Parameter p);
}
