package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.tensor.DType;
import dev.speedrun.testsupport.Fixtures;
import org.junit.jupiter.api.Test;

/**
 * The record's mixed precision ({@link Precision#MIXED}) on the CPU ops: parameter, gradient and
 * buffer dtypes, and the tiny fixture model's six losses close to the float64 reference.
 *
 * <p>Tolerance 2e-2 relative on each loss: BF16 keeps 8 significant bits (unit roundoff
 * 2^-9 ≈ 2e-3); the activations are rounded after every op through ~10 ops a layer, and the
 * errors partly cancel in a loss averaged over the tokens, so a few units of 2^-9 is expected and
 * 2e-2 still fails any real mistake (a wrong dtype in a slot, a missing working-copy refresh)
 * which moves a loss near ln(V) by far more.
 */
class MixedPrecisionTest {
    static final double TOL = 2e-2;

    @Test void dtypesFollowTheSpecTable() {
        JsonNode fx = Fixtures.json("model_tiny.json");
        GptConfig cfg = TestSupport.config(fx.get("config"));
        try (Gpt gpt = new Gpt(cfg, Kernels.cpu(), Precision.MIXED, 16, 1, 0)) {
            assertEquals(DType.BF16, gpt.dtype());
            for (Parameter p : gpt.parameters()) {
                assertEquals(p.spec().gpuDType(), p.value().dtype(), p.name() + " value");
                assertEquals(p.spec().gpuDType(), p.grad().dtype(), p.name() + " gradient (the record's: the parameter's dtype)");
            }
        }
        try (Gpt gpt = new Gpt(cfg, Kernels.cpu(), DType.F32, 16, 1, 0)) {
            for (Parameter p : gpt.parameters()) {
                assertEquals(DType.F32, p.value().dtype(), p.name());
                assertEquals(DType.F32, p.grad().dtype(), p.name());
            }
        }
        assertEquals(Precision.MIXED, Precision.parse("mixed"));
        assertEquals(Precision.uniform(DType.F64), Precision.parse("f64"));
        assertEquals(DType.F32, Precision.parse("bf16").statistics(), "GPU kernels need F32 statistics");
    }

    @Test void fixtureLossesInMixedPrecision() {
        JsonNode fx = Fixtures.json("model_tiny.json");
        GptConfig cfg = TestSupport.config(fx.get("config"));
        int[] tokens = Fixtures.ints(fx.get("tokens")), targets = Fixtures.ints(fx.get("targets"));
        int[] cu = Fixtures.ints(fx.get("cu_seqlens"));
        int wsS = fx.get("ws_short").asInt(), wsL = fx.get("ws_long").asInt();
        try (Gpt mixed = new Gpt(cfg, Kernels.cpu(), Precision.MIXED, tokens.length, 1, 0);
             Gpt f32 = new Gpt(cfg, Kernels.cpu(), DType.F32, tokens.length, 1, 0)) {
            for (Gpt gpt : new Gpt[] {mixed, f32}) {
                Checkpoints.load(gpt, Fixtures.dir().resolve(fx.get("weights_file").asText()));
                for (JsonNode u : fx.get("yarn_updates")) gpt.yarn().apply(u.get(0).asInt(), u.get(1).asInt());
            }
            double worst = 0;
            for (JsonNode r : fx.get("results")) {
                double want = r.get("loss").asDouble();
                double[] got = new double[2];
                for (int m = 0; m < 2; m++) {
                    Gpt gpt = m == 0 ? mixed : f32;
                    gpt.setSplitEmbed(r.get("split_embed").asBoolean());
                    got[m] = switch (r.get("mode").asText()) {
                        case "train_sum" -> gpt.forwardBackward(tokens, targets, cu, wsS, wsL, TestSupport.LOSS, Fixtures.doubles(r.get("mtp_weights")), 1.0);
                        case "eval_mean" -> gpt.evaluate(tokens, targets, cu, wsS, wsL, TestSupport.LOSS);
                        default -> throw new IllegalStateException("unknown mode in fixture: " + r.get("mode"));
                    };
                }
                double err = TestSupport.rel(got[0], want);
                worst = Math.max(worst, err);
                assertTrue(Double.isFinite(got[0]) && err <= TOL, r.get("mode") + " split=" + r.get("split_embed") + ": mixed "
                        + got[0] + " vs " + want + " (rel " + err + "; F32 " + got[1] + ")");
            }
            // gradients flowed into every parameter that has one (BF16 for the BF16 parameters)
            for (Parameter p : mixed.parameters()) {
                if (!p.hasGrad()) continue;
                double ss = 0;
                for (double g : dev.speedrun.tensor.HostData.toDoubles(p.grad())) { assertTrue(Double.isFinite(g), p.name()); ss += g * g; }
                assertTrue(ss > 0, p.name() + " has an all-zero gradient after the training rows");
            }
            System.out.printf("mixed precision fixture: worst relative loss error %.3e (tolerance %.0e)%n", worst, TOL);
        }
    }
}
