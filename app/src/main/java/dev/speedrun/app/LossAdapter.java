package dev.speedrun.app;

import dev.speedrun.losses.LossBatch;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.model.LossBuffers;
import dev.speedrun.model.ModelLoss;

/** Hands the model's head buffers to a {@link LossFunction} (the model does not know the losses module). */
final class LossAdapter implements ModelLoss {
    private final LossFunction loss;

    LossAdapter(LossFunction loss) { this.loss = loss; }

    @Override public double train(LossBuffers b, double[] mtpWeights, double gradScale) {
        return loss.trainStep(batch(b, mtpWeights), gradScale);
    }

    @Override public double evaluate(LossBuffers b) { return loss.evaluate(batch(b, new double[] {1.0})); }

    private static LossBatch batch(LossBuffers b, double[] w) {
        return new LossBatch(b.ops(), b.logits(), b.dLogits(), b.inputs(), b.targets(), b.rowLosses(), b.targetWeights(),
                b.total(), w, b.softcap(), b.softcapDivisor());
    }
}
