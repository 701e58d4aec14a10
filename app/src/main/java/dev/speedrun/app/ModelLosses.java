package dev.speedrun.app;

import dev.speedrun.losses.LossBatch;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.model.LossBuffers;
import dev.speedrun.model.ModelLoss;

/**
 * Adapts a {@link LossFunction} (losses SPI) to the model's {@link ModelLoss}: the model and the
 * losses module do not know each other (layering), the application joins them.
 */
public final class ModelLosses {
    private ModelLosses() {}

    public static ModelLoss of(LossFunction f) {
        return new ModelLoss() {
            @Override public double train(LossBuffers b, double[] mtpWeights, double gradScale) {
                return f.trainStep(batch(b, mtpWeights), gradScale);
            }

            @Override public double evaluate(LossBuffers b) { return f.evaluate(batch(b, new double[] {1})); }

            @Override public String toString() { return f.name(); }
        };
    }

    private static LossBatch batch(LossBuffers b, double[] w) {
        return new LossBatch(b.ops(), b.logits(), b.dLogits(), b.inputs(), b.targets(), b.rowLosses(), b.targetWeights(),
                b.total(), w, b.softcap(), b.softcapDivisor());
    }
}
