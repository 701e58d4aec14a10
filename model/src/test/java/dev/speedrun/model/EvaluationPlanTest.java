package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.testsupport.Fixtures;
import org.junit.jupiter.api.Test;

/**
 * Evaluation forwards larger than the training micro-batch (the record validates 262,144 tokens
 * per forward, trains on at most 49,152): a forward-only plan with shared block buffers and the
 * LM head in row chunks gives the fixture's evaluation losses and the single-plan result.
 */
class EvaluationPlanTest {
    static final JsonNode FX = Fixtures.json("model_tiny.json");
    static final GptConfig CFG = TestSupport.config(FX.get("config"));
    static final int[] TOKENS = Fixtures.ints(FX.get("tokens")), TARGETS = Fixtures.ints(FX.get("targets")),
            CU = Fixtures.ints(FX.get("cu_seqlens"));
    static final int WS = FX.get("ws_short").asInt(), WL = FX.get("ws_long").asInt();

    static Gpt model(int maxTokens, int evalTokens, int headRows) {
        Gpt g = new Gpt(CFG, Kernels.cpu(), Precision.F64, maxTokens, evalTokens, headRows, 1, 0);
        Checkpoints.load(g, Fixtures.dir().resolve(FX.get("weights_file").asText()));
        for (JsonNode u : FX.get("yarn_updates")) g.yarn().apply(u.get(0).asInt(), u.get(1).asInt());
        return g;
    }

    @Test void forwardOnlyPlanInChunksReproducesTheFixtureEvaluation() {
        int T = TOKENS.length;
        // training plan of a third of T; head chunks of 5 rows (T = 24 gives 5 chunks, the last one short)
        try (Gpt small = model(Math.max(1, T / 3), T, 5); Gpt whole = model(T, T, 0)) {
            assertEquals(T, small.evalTokens());
            assertEquals(5, small.evalHeadRows());
            int checked = 0;
            for (JsonNode r : FX.get("results")) {
                if (!r.get("mode").asText().equals("eval_mean")) continue;
                boolean split = r.get("split_embed").asBoolean();
                small.setSplitEmbed(split);
                whole.setSplitEmbed(split);
                double a = small.evaluate(TOKENS, TARGETS, CU, WS, WL, TestSupport.LOSS);
                double b = whole.evaluate(TOKENS, TARGETS, CU, WS, WL, TestSupport.LOSS);
                double want = r.get("loss").asDouble();
                assertTrue(TestSupport.rel(a, want) <= 1e-12, "chunked forward-only evaluation " + a + " vs fixture " + want);
                assertTrue(TestSupport.rel(a, b) <= 1e-14, "chunked " + a + " vs one-plan " + b);
                checked++;
            }
            assertTrue(checked > 0, "the fixture has no eval_mean result");
        }
    }

    @Test void trainingStaysOnTheTrainingPlanAfterAnEvaluation() {
        int T = TOKENS.length;
        JsonNode train = null;
        for (JsonNode r : FX.get("results")) if (r.get("mode").asText().equals("train_sum") && !r.get("split_embed").asBoolean()) train = r;
        assertNotNull(train, "the fixture has no tied train_sum result");
        try (Gpt g = model(T, 2 * T, 7)) {
            g.evaluate(TOKENS, TARGETS, CU, WS, WL, TestSupport.LOSS);
            double got = g.forwardBackward(TOKENS, TARGETS, CU, WS, WL, TestSupport.LOSS, Fixtures.doubles(train.get("mtp_weights")), 1.0);
            assertTrue(TestSupport.rel(got, train.get("loss").asDouble()) <= 1e-12, got + " vs " + train.get("loss"));
        }
    }

    @Test void aForwardOnlyPlanTakesLessMemoryThanATrainingPlanOfTheSameSize() {
        int T = TOKENS.length, big = 8 * T;
        try (Gpt base = model(T, T, 0); Gpt withEval = model(T, big, 0); Gpt trainBig = model(big, big, 0)) {
            long evalPlan = withEval.allocatedBytes() - base.allocatedBytes();
            long trainPlan = trainBig.allocatedBytes() - base.allocatedBytes();
            assertTrue(evalPlan > 0, "no evaluation plan allocated");
            assertTrue(evalPlan < trainPlan / 2, "forward-only plan " + evalPlan + " B vs training plan growth " + trainPlan + " B");
        }
    }

    @Test void sizesOutsideThePlansAreNamed() {
        int T = TOKENS.length;
        try (Gpt g = model(T / 2, T - 1, 0)) {
            var e = assertThrows(IllegalArgumentException.class, () -> g.evaluate(TOKENS, TARGETS, CU, WS, WL, TestSupport.LOSS));
            assertTrue(e.getMessage().contains("evalTokens") && e.getMessage().contains(String.valueOf(T - 1)), e.getMessage());
            var f = assertThrows(IllegalArgumentException.class,
                    () -> g.forwardBackward(TOKENS, TARGETS, CU, WS, WL, TestSupport.LOSS, new double[] {1}, 1));
            assertTrue(f.getMessage().contains("micro-batch of " + T), f.getMessage());
        }
        var c = assertThrows(IllegalArgumentException.class, () -> new Gpt(CFG, Kernels.cpu(), Precision.F64, 4, 0, 1, 0));
        assertTrue(c.getMessage().contains("evalTokens"), c.getMessage());
    }
}
