package dev.speedrun.losses;

import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.Tensor;

/**
 * What a loss sees for one micro-batch of T tokens over a (padded) vocabulary of V entries.
 *
 * @param ops           the backend's ops
 * @param logits        [T,V] raw head output z (before the soft cap)
 * @param dLogits       [T,V] gradient output (may alias logits, which is then consumed); null in eval
 * @param inputs        [T] I32 input tokens (e.g. to mask targets that follow a BOS)
 * @param targets       [T] I32 next-token targets
 * @param rowLosses     [T] scratch for per-row losses (activation dtype)
 * @param targetWeights [T] scratch for per-target weights (see {@link Ops#tokenMask})
 * @param total         [1] scratch for the reduced loss
 * @param mtpWeights    multi-token weights for this step (w[0] for the next token); never empty
 * @param softcap       soft cap (30)
 * @param softcapDivisor divisor inside the soft-cap sigmoid (7.5)
 */
public record LossBatch(Ops ops, Tensor logits, Tensor dLogits, Tensor inputs, Tensor targets, Tensor rowLosses,
                        Tensor targetWeights, Tensor total, double[] mtpWeights, double softcap, double softcapDivisor) {

    /** Number of tokens T. */
    public int tokens() { return logits.size(0); }
}
