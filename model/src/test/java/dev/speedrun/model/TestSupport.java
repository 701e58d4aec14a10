package dev.speedrun.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.losses.SoftcapCrossEntropy;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Fixture access and the loss for the model's tests. */
final class TestSupport {
    private TestSupport() {}

    static Path fixtures() {
        String dir = System.getProperty("fixtures.dir");
        if (dir == null) throw new IllegalStateException("system property fixtures.dir is not set (the parent pom sets it)");
        Path p = Path.of(dir);
        if (!Files.isDirectory(p)) throw new IllegalStateException("fixtures folder " + p.toAbsolutePath() + " is missing");
        return p;
    }

    static JsonNode json(String name) {
        Path f = fixtures().resolve(name);
        try {
            return new ObjectMapper().readTree(f.toFile());
        } catch (IOException e) {
            throw new IllegalStateException("cannot read fixture " + f + ": " + e.getMessage(), e);
        }
    }

    static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
        return r;
    }

    static double[] doubles(JsonNode a) {
        double[] r = new double[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asDouble();
        return r;
    }

    /** The fixture's model config with the record's layer structure. */
    static GptConfig config(JsonNode c) {
        return GptConfig.withSizes(c.get("vocab_size").asInt(), c.get("num_layers").asInt(), c.get("num_heads").asInt(),
                c.get("head_dim").asInt(), c.get("model_dim").asInt(), c.get("block_size").asInt(), c.get("gate_input_dims").asInt());
    }

    /** The record's soft-capped cross-entropy (losses module): training sums (× gradScale), evaluation averages. */
    static final LossFunction LOSS = new SoftcapCrossEntropy();

    static double rel(double got, double want) { return Math.abs(got - want) / Math.max(Math.abs(want), 1e-300); }
}
