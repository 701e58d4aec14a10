package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.testsupport.Fixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The tiny fixture model's six results (spec §2, §4) in F64 and F32. */
class FixtureParityTest {
    @ParameterizedTest(name = "{0}")
    @CsvSource({"F64, 1e-9", "F32, 1e-4"})
    void reproducesFixture(DType dtype, double tol) {
        JsonNode fx = Fixtures.json("model_tiny.json");
        GptConfig cfg = TestSupport.config(fx.get("config"));
        assertEquals(fx.get("config").get("vocab_padded").asInt(), cfg.vocabPadded(), "vocabulary padding");
        int[] tokens = Fixtures.ints(fx.get("tokens")), targets = Fixtures.ints(fx.get("targets"));
        int[] cu = Fixtures.ints(fx.get("cu_seqlens"));
        int wsS = fx.get("ws_short").asInt(), wsL = fx.get("ws_long").asInt();
        try (Gpt gpt = new Gpt(cfg, Kernels.cpu(), dtype, tokens.length, 1, 0)) {
            Checkpoints.load(gpt, Fixtures.dir().resolve(fx.get("weights_file").asText()));
            for (JsonNode u : fx.get("yarn_updates")) gpt.yarn().apply(u.get(0).asInt(), u.get(1).asInt());
            assertEquals(fx.get("attn_scale").asDouble(), gpt.yarn().attnScale(), 1e-15);
            assertArrayEquals(Fixtures.doubles(fx.get("angular_freq")), gpt.yarn().angularFreq(), 1e-15);
            double worst = 0;
            for (JsonNode r : fx.get("results")) {
                gpt.setSplitEmbed(r.get("split_embed").asBoolean());
                String mode = r.get("mode").asText();
                double got = switch (mode) {
                    case "train_sum" -> gpt.forwardBackward(tokens, targets, cu, wsS, wsL, TestSupport.LOSS, Fixtures.doubles(r.get("mtp_weights")), 1.0);
                    case "eval_mean" -> gpt.evaluate(tokens, targets, cu, wsS, wsL, TestSupport.LOSS);
                    default -> throw new IllegalStateException("unknown mode " + mode + " in fixture");
                };
                double err = TestSupport.rel(got, r.get("loss").asDouble());
                worst = Math.max(worst, err);
                assertTrue(err <= tol, mode + " split=" + r.get("split_embed") + ": " + got + " vs " + r.get("loss") + " (rel " + err + ")");
                if (r.has("logits_row0_first8")) {
                    double[] want = Fixtures.doubles(r.get("logits_row0_first8"));
                    double[] z = HostData.toDoubles(gpt.logits(tokens.length).get(0).view(0, want.length));
                    for (int j = 0; j < want.length; j++) {
                        double l = cfg.softcap() / (1 + Math.exp(-z[j] / cfg.softcapDivisor()));
                        assertTrue(TestSupport.rel(l, want[j]) <= tol, "soft-capped logit " + j + ": " + l + " vs " + want[j]);
                    }
                }
            }
            System.out.printf("fixture parity %s: worst relative error %.3e%n", dtype, worst);
        }
    }
}
