package dev.speedrun.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.HostData;
import dev.speedrun.testsupport.Fixtures;
import java.nio.file.Path;

/** Fixture access (through test-support's {@link Fixtures}), the fixture's model config and a plain soft-capped cross-entropy for the model's tests. */
final class TestSupport {
    private TestSupport() {}

    static Path fixtures() { return Fixtures.dir(); }

    static JsonNode json(String name) { return Fixtures.json(name); }

    static int[] ints(JsonNode a) { return Fixtures.ints(a); }

    static double[] doubles(JsonNode a) { return Fixtures.doubles(a); }

    /** The fixture's model config with the record's layer structure. */
    static GptConfig config(JsonNode c) {
        return GptConfig.withSizes(c.get("vocab_size").asInt(), c.get("num_layers").asInt(), c.get("num_heads").asInt(),
                c.get("head_dim").asInt(), c.get("model_dim").asInt(), c.get("block_size").asInt(), c.get("gate_input_dims").asInt());
    }

    /** Soft-capped CE straight on the op: training sums (× gradScale), evaluation averages. */
    static final ModelLoss LOSS = new ModelLoss() {
        @Override public double train(LossBuffers b, double[] w, double gradScale) {
            Ops ops = b.ops();
            ops.softcapCrossEntropy(b.rowLosses(), b.dLogits(), b.logits(), b.targets(), null, w, b.softcap(), b.softcapDivisor(), gradScale);
            ops.sum(b.total(), b.rowLosses(), false);
            return HostData.scalar(b.total()) * gradScale;
        }

        @Override public double evaluate(LossBuffers b) {
            Ops ops = b.ops();
            ops.softcapCrossEntropy(b.rowLosses(), null, b.logits(), b.targets(), null, new double[] {1}, b.softcap(), b.softcapDivisor(), 1);
            ops.sum(b.total(), b.rowLosses(), false);
            return HostData.scalar(b.total()) / b.logits().size(0);
        }
    };

    static double rel(double got, double want) { return Math.abs(got - want) / Math.max(Math.abs(want), 1e-300); }
}
