package dev.speedrun.model;

/**
 * The loss as the model calls it, after the LM head. The model owns the buffers
 * ({@link LossBuffers}); the loss fills {@code dLogits} in training. The trainer adapts a
 * {@code dev.speedrun.losses.LossFunction} to this interface (the model does not depend on the
 * losses module, see the architecture's layering).
 */
public interface ModelLoss {
    /**
     * Writes {@code gradScale·∂L/∂z} into {@code b.dLogits()} (overwriting) and returns
     * {@code gradScale·L}, L the summed loss with multi-token weights {@code mtpWeights}.
     */
    double train(LossBuffers b, double[] mtpWeights, double gradScale);

    /** Mean next-token loss per token; {@code b.dLogits()} is null. */
    double evaluate(LossBuffers b);
}
