package dev.speedrun.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.losses.SoftcapCrossEntropy;
import dev.speedrun.testsupport.Fixtures;

/** Fixture access (through test-support's {@link Fixtures}), the fixture's model config and the loss for the model's tests. */
final class TestSupport {
    private TestSupport() {}

    /** The fixture's model config with the record's layer structure. */
    static GptConfig config(JsonNode c) {
        return GptConfig.withSizes(c.get("vocab_size").asInt(), c.get("num_layers").asInt(), c.get("num_heads").asInt(),
                c.get("head_dim").asInt(), c.get("model_dim").asInt(), c.get("block_size").asInt(), c.get("gate_input_dims").asInt());
    }

    /** The record's soft-capped cross-entropy (losses module): training sums (× gradScale), evaluation averages. */
    static final LossFunction LOSS = new SoftcapCrossEntropy();

    static double rel(double got, double want) { return Math.abs(got - want) / Math.max(Math.abs(want), 1e-300); }
}
