package dev.speedrun.losses;

import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;

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

    /**
     * Training with the loss value left on the device: writes {@code gradScale · ∂L/∂z} into
     * {@code batch.dLogits()} as {@link #trainStep} does and <b>adds</b> L (the summed loss of the
     * micro-batch, not scaled) to {@code lossSum[0]}, a [1] tensor of the batch's backend, queuing
     * ops only, so a training step reads its loss back once instead of once per micro-batch.
     * {@code gradScale} must be positive. The default runs {@link #trainStep} and adds on the host,
     * which makes the host wait for the device three times (read the loss, read and write
     * {@code lossSum}): a loss meant for GPUs overrides it.
     */
    default void trainStepOnDevice(LossBatch batch, double gradScale, Tensor lossSum) {
        if (!(gradScale > 0)) throw new IllegalArgumentException("gradScale must be positive, got " + gradScale);
        double value = trainStep(batch, gradScale) / gradScale;
        HostData.write(lossSum, new double[] {HostData.scalar(lossSum) + value});
    }

    /** Evaluation: the mean loss per token of the micro-batch (next-token only); no gradient. */
    double evaluate(LossBatch batch);
}
