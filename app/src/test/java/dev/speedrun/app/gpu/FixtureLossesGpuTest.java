package dev.speedrun.app.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.Ops;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.losses.LossFunctions;
import dev.speedrun.model.Checkpoints;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.Precision;
import dev.speedrun.tensor.DType;
import dev.speedrun.testsupport.TinyModelFixture;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The tiny fixture model's six results (model_tiny.json: train sums and eval means, tied and
 * split embeddings, multi-token weights) in F32 on the CUDA ops: relative error ≤ 1e-4, the
 * tolerance of the CPU F32 model (model FixtureParityTest), which the GPU's F32 kernels
 * (F32 math, F32 accumulation) must meet too.
 */
@Tag("gpu")
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class FixtureLossesGpuTest {
    /** The ops under test: the GPU's here, the emulated device's in {@link FixtureLossesEmuTest}. */
    Ops ops() { return GpuModelSupport.cudaOrSkip(); }

    /** Largest relative error of a result. */
    double tolerance() { return 1e-4; }

    @Test void sixLossesInF32() { sixLosses(ops(), Precision.uniform(DType.F32), tolerance(), "F32"); }

    /** The six results with {@code ops} in {@code precision} within {@code tol} relative; returns the worst error. */
    static double sixLosses(Ops ops, Precision precision, double tol, String what) {
        TinyModelFixture fx = TinyModelFixture.read();
        GptConfig cfg = GpuModelSupport.config(fx.config());
        assertEquals(fx.vocabPadded(), cfg.vocabPadded(), "vocabulary padding");
        int[] tokens = fx.tokens(), targets = fx.targets(), cu = fx.cuSeqlens();
        LossFunction loss = LossFunctions.defaultLoss();
        try (Gpt gpt = new Gpt(cfg, ops, precision, tokens.length, 1, 0)) {
            Checkpoints.load(gpt, fx.weights());
            for (int[] u : fx.yarnUpdates()) gpt.yarn().apply(u[0], u[1]);
            double worst = 0;
            int n = 0;
            for (TinyModelFixture.Result r : fx.results()) {
                gpt.setSplitEmbed(r.splitEmbed());
                double got = switch (r.mode()) {
                    case TRAIN_SUM -> gpt.forwardBackward(tokens, targets, cu, fx.windowShort(), fx.windowLong(), loss, r.mtpWeights(), 1.0);
                    case EVAL_MEAN -> gpt.evaluate(tokens, targets, cu, fx.windowShort(), fx.windowLong(), loss);
                };
                double want = r.loss();
                double err = Math.abs(got - want) / Math.abs(want);
                worst = Math.max(worst, err);
                n++;
                assertTrue(Double.isFinite(got) && err <= tol, what + " " + r.mode() + " split=" + r.splitEmbed() + ": "
                        + ops.backend().name() + " " + got + " vs " + want + " (rel " + err + ")");
            }
            assertEquals(fx.results().size(), n);
            System.out.printf("[gpu] fixture losses on %s (%s): %d results, worst relative error %.3e%n", ops.backend().name(), what, n, worst);
            return worst;
        }
    }
}
