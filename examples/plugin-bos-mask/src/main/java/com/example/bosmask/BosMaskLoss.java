package com.example.bosmask;

import dev.speedrun.kernels.Ops;
import dev.speedrun.losses.LossBatch;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.tensor.HostData;

/**
 * The record's soft-capped cross-entropy without the terms whose target is the first token of a
 * document: such a token cannot be predicted from the previous document, so training on it only
 * adds noise. Target q is dropped when {@code inputs[q]} is the BOS token (its target is then the
 * token right after the BOS); with multi-token weights every term aiming at that target is dropped.
 * Validation is unchanged (plain next-token mean), so val_loss stays comparable.
 */
public final class BosMaskLoss implements LossFunction {
    public static final String NAME = "bos-mask";
    private static final double[] NEXT_TOKEN = {1.0};
    private final int bosId;

    public BosMaskLoss(int bosId) { this.bosId = bosId; }

    @Override public String name() { return NAME; }

    @Override public double trainStep(LossBatch b, double gradScale) {
        if (b.dLogits() == null) throw new IllegalArgumentException("trainStep needs dLogits");
        Ops ops = b.ops();
        // targetWeights[q] = 0 where inputs[q] == BOS, 1 elsewhere
        ops.tokenMask(b.targetWeights(), b.inputs(), bosId, 0.0, 1.0);
        ops.softcapCrossEntropy(b.rowLosses(), b.dLogits(), b.logits(), b.targets(), b.targetWeights(), b.mtpWeights(),
                b.softcap(), b.softcapDivisor(), gradScale);
        ops.sum(b.total(), b.rowLosses(), false);
        return HostData.scalar(b.total()) * gradScale;
    }

    @Override public double evaluate(LossBatch b) {
        b.ops().softcapCrossEntropy(b.rowLosses(), null, b.logits(), b.targets(), null, NEXT_TOKEN, b.softcap(), b.softcapDivisor(), 1.0);
        b.ops().sum(b.total(), b.rowLosses(), false);
        return HostData.scalar(b.total()) / b.tokens();
    }
}
