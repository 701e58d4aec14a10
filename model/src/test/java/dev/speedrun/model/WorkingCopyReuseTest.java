package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.losses.LossFunctions;
import dev.speedrun.tensor.HostData;
import dev.speedrun.testsupport.Fixtures;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link Gpt#reuseWorkingCopies}: the later micro-batches of a step skip refreshing the mixed
 * precision working copies and compute exactly what a refreshing forward computes (same loss and
 * gradients, bit for bit), while a forward without the promise still sees a changed parameter.
 * The tiny fixture model on the CPU ops.
 */
class WorkingCopyReuseTest {
    private static List<double[]> grads(Gpt gpt) {
        List<double[]> g = new ArrayList<>();
        for (Parameter p : gpt.parameters()) g.add(HostData.toDoubles(p.grad()));
        return g;
    }

    @Test void reusingTheWorkingCopiesChangesNothing() {
        JsonNode fx = Fixtures.json("model_tiny.json");
        GptConfig cfg = TestSupport.config(fx.get("config"));
        int[] tokens = Fixtures.ints(fx.get("tokens")), targets = Fixtures.ints(fx.get("targets"));
        int[] cu = Fixtures.ints(fx.get("cu_seqlens"));
        int wsS = fx.get("ws_short").asInt(), wsL = fx.get("ws_long").asInt();
        double[] w = {1.0};
        var loss = LossFunctions.defaultLoss();
        double[] losses = new double[2];
        List<List<double[]>> grads = new ArrayList<>();
        for (int run = 0; run < 2; run++) {
            try (Gpt gpt = new Gpt(cfg, Kernels.cpu(), Precision.MIXED, tokens.length, 1, 0)) {
                Checkpoints.load(gpt, Fixtures.dir().resolve(fx.get("weights_file").asText()));
                gpt.zeroGrads();
                gpt.forwardBackward(tokens, targets, cu, wsS, wsL, loss, w, 0.5);
                if (run == 1) gpt.reuseWorkingCopies();
                losses[run] = gpt.forwardBackward(tokens, targets, cu, wsS, wsL, loss, w, 0.5);
                grads.add(grads(gpt));
            }
        }
        assertEquals(losses[0], losses[1], 0.0, "the second micro-batch's loss");
        for (int i = 0; i < grads.get(0).size(); i++) assertArrayEquals(grads.get(0).get(i), grads.get(1).get(i), 0.0, "gradient " + i);

        // the promise skips the refresh (a broken promise shows as the old weights), for one forward only
        try (Gpt gpt = new Gpt(cfg, Kernels.cpu(), Precision.MIXED, tokens.length, 1, 0)) {
            Checkpoints.load(gpt, Fixtures.dir().resolve(fx.get("weights_file").asText()));
            double loaded = gpt.trainingLoss(tokens, targets, cu, wsS, wsL, loss, w, 1.0);
            // an F32 GEMM weight read only through its BF16 working copy (lm_head is also the embedding table)
            Parameter fc = gpt.parameters().stream().filter(p -> p.name().equals("blocks.0.mlp.c_fc")).findFirst().orElseThrow();
            gpt.ops().fill(fc.value(), 0);
            gpt.reuseWorkingCopies();
            assertEquals(loaded, gpt.trainingLoss(tokens, targets, cu, wsS, wsL, loss, w, 1.0), 0.0, "refresh skipped");
            assertNotEquals(loaded, gpt.trainingLoss(tokens, targets, cu, wsS, wsL, loss, w, 1.0), "the next forward refreshes");
        }
    }
}
