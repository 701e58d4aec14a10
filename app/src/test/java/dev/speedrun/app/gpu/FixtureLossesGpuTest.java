package dev.speedrun.app.gpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Ops;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.losses.LossFunctions;
import dev.speedrun.model.Checkpoints;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.Precision;
import dev.speedrun.tensor.DType;
import dev.speedrun.testsupport.Fixtures;
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
        JsonNode fx = Fixtures.json("model_tiny.json");
        GptConfig cfg = GpuModelSupport.config(fx.get("config"));
        assertEquals(fx.get("config").get("vocab_padded").asInt(), cfg.vocabPadded(), "vocabulary padding");
        int[] tokens = Fixtures.ints(fx.get("tokens")), targets = Fixtures.ints(fx.get("targets"));
        int[] cu = Fixtures.ints(fx.get("cu_seqlens"));
        int wsS = fx.get("ws_short").asInt(), wsL = fx.get("ws_long").asInt();
        LossFunction loss = LossFunctions.defaultLoss();
        try (Gpt gpt = new Gpt(cfg, ops, precision, tokens.length, 1, 0)) {
            Checkpoints.load(gpt, Fixtures.dir().resolve(fx.get("weights_file").asText()));
            for (JsonNode u : fx.get("yarn_updates")) gpt.yarn().apply(u.get(0).asInt(), u.get(1).asInt());
            double worst = 0;
            int n = 0;
            for (JsonNode r : fx.get("results")) {
                gpt.setSplitEmbed(r.get("split_embed").asBoolean());
                String mode = r.get("mode").asText();
                double got = switch (mode) {
                    case "train_sum" -> gpt.forwardBackward(tokens, targets, cu, wsS, wsL, loss, Fixtures.doubles(r.get("mtp_weights")), 1.0);
                    case "eval_mean" -> gpt.evaluate(tokens, targets, cu, wsS, wsL, loss);
                    default -> throw new IllegalStateException("unknown mode " + mode + " in model_tiny.json");
                };
                double want = r.get("loss").asDouble();
                double err = Math.abs(got - want) / Math.abs(want);
                worst = Math.max(worst, err);
                n++;
                assertTrue(Double.isFinite(got) && err <= tol, what + " " + mode + " split=" + r.get("split_embed") + ": "
                        + ops.backend().name() + " " + got + " vs " + want + " (rel " + err + ")");
            }
            assertEquals(fx.get("results").size(), n);
            System.out.printf("[gpu] fixture losses on %s (%s): %d results, worst relative error %.3e%n", ops.backend().name(), what, n, worst);
            return worst;
        }
    }
}
