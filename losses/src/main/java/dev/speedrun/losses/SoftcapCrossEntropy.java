package dev.speedrun.losses;

import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;

/**
 * The record's loss (spec §4): cross-entropy on soft-capped logits {@code 30·σ(z/7.5)} with
 * multi-token weights; training sums over tokens, evaluation takes the mean of next-token losses.
 */
public final class SoftcapCrossEntropy implements LossFunction {
    public static final String NAME = "softcap-ce";
    private static final double[] NEXT_TOKEN = {1.0};

    @Override public String name() { return NAME; }

    @Override public double trainStep(LossBatch b, double gradScale) {
        if (b.dLogits() == null) throw new IllegalArgumentException("trainStep needs dLogits");
        b.ops().softcapCrossEntropy(b.rowLosses(), b.dLogits(), b.logits(), b.targets(), null, b.mtpWeights(),
                b.softcap(), b.softcapDivisor(), gradScale);
        b.ops().sum(b.total(), b.rowLosses(), false);
        return HostData.scalar(b.total()) * gradScale;
    }

    /** The row losses summed into {@code lossSum} on the device (the sum kernels accumulate in F32, or F64 on the CPU backend). */
    @Override public void trainStepOnDevice(LossBatch b, double gradScale, Tensor lossSum) {
        if (b.dLogits() == null) throw new IllegalArgumentException("trainStep needs dLogits");
        b.ops().softcapCrossEntropy(b.rowLosses(), b.dLogits(), b.logits(), b.targets(), null, b.mtpWeights(),
                b.softcap(), b.softcapDivisor(), gradScale);
        b.ops().sum(lossSum, b.rowLosses(), true);
    }

    @Override public double evaluate(LossBatch b) {
        b.ops().softcapCrossEntropy(b.rowLosses(), null, b.logits(), b.targets(), null, NEXT_TOKEN,
                b.softcap(), b.softcapDivisor(), 1.0);
        b.ops().sum(b.total(), b.rowLosses(), false);
        return HostData.scalar(b.total()) / b.tokens();
    }
}
