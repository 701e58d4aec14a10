package dev.speedrun.model;

import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.Tensor;

/**
 * Views of the model's preallocated head buffers for one micro-batch of T tokens.
 *
 * @param ops            the model's ops
 * @param logits         [T,V] raw head output z (V = padded vocabulary)
 * @param dLogits        [T,V] gradient output, aliasing logits (consumed); null in evaluation
 * @param inputs         [T] I32 input tokens
 * @param targets        [T] I32 targets
 * @param rowLosses      [T] scratch, statistics dtype (F32 in mixed precision)
 * @param targetWeights  [T] scratch, statistics dtype
 * @param total          [1] scratch, statistics dtype
 * @param softcap        soft cap (config, 30)
 * @param softcapDivisor divisor inside the soft-cap sigmoid (config, 7.5)
 */
public record LossBuffers(Ops ops, Tensor logits, Tensor dLogits, Tensor inputs, Tensor targets, Tensor rowLosses,
                          Tensor targetWeights, Tensor total, double softcap, double softcapDivisor) {}
