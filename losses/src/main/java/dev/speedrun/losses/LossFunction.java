package dev.speedrun.losses;

/**
 * Loss SPI (ServiceLoader): turns the head's raw outputs into a loss value and, in training, the
 * gradient with respect to those outputs. A loss sees logits, input tokens and targets, never the
 * model. Implementations are found by {@link #name()} through {@link LossFunctions}; the default
 * is {@value SoftcapCrossEntropy#NAME}.
 *
 * <p>All tensors come from the caller's preallocated buffers ({@link LossBatch}); an
 * implementation launches ops only (no allocation), so it runs on any backend.
 */
public interface LossFunction {
    /** Name used by configs and {@code --loss}. */
    String name();

    /**
     * Training: writes {@code gradScale · ∂L/∂z} into {@code batch.dLogits()} (overwriting) and
     * returns {@code gradScale · L}, where L is the <b>summed</b> loss of the micro-batch (spec §4:
     * divided by grad_accum through gradScale). {@code batch.mtpWeights()} are this step's
     * multi-token weights ([1] = next-token prediction).
     */
    double trainStep(LossBatch batch, double gradScale);

    /** Evaluation: the mean loss per token of the micro-batch (next-token only); no gradient. */
    double evaluate(LossBatch batch);
}
