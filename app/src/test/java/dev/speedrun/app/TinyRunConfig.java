package dev.speedrun.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.speedrun.data.SampleCorpus;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A very small CPU training setup for end-to-end tests: a generated corpus in {@code dir/data}
 * and a config (width 16, 8 scheduled steps with all three batch/window phases) over it.
 */
public final class TinyRunConfig {
    private TinyRunConfig() {}

    /** A {@code train} command of {@code config} with {@code plugins} for {@code steps} steps (null: the whole schedule), writing under {@code out}, console silent. */
    static TrainCommand command(Path config, Path out, List<String> plugins, Integer steps) {
        TrainCommand c = new TrainCommand();
        c.config = config.toString();
        c.out = out.toString();
        c.plugins = plugins;
        c.steps = steps;
        c.console = new PrintStream(new ByteArrayOutputStream());
        return c;
    }

    /** The lines of a finished run's metrics.jsonl, parsed. */
    static List<JsonNode> metrics(TrainCommand c) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(c.lastResult.metrics())) out.add(json.readTree(line));
        return out;
    }

    /** The training losses of a finished run, in step order. */
    static List<Double> trainLosses(TrainCommand c) throws IOException {
        return metrics(c).stream().filter(n -> !n.get("train_loss").isNull()).map(n -> n.get("train_loss").asDouble()).toList();
    }

    /**
     * Writes the corpus, the config and beside them the sweep file {@code name}.yaml over the
     * config: 4 steps (checkpoints at 2 and 4), 128 validation tokens, the given {@code matrix}
     * (YAML lines under {@code matrix:}) and target 11.5; returns the sweep file.
     */
    public static Path sweep(Path dir, long corpusSeed, String name, String... matrix) throws IOException {
        Path config = write(dir, corpusSeed, 2);
        Path file = dir.resolve(name + ".yaml");
        Files.writeString(file, "base: " + config + "\nset: {max_steps: 4, validation: {tokens: 128}}\nmatrix:\n"
                + String.join("", java.util.Arrays.stream(matrix).map(m -> "  " + m + "\n").toList()) + "target: 11.5\n");
        return file;
    }

    /**
     * A finished 4-step sweep run as if interrupted after its step-2 checkpoint: no result, no
     * later checkpoint. Returns the final validation loss it had reached.
     */
    public static double interruptAfterStep2(Path runDir) throws IOException {
        double loss = new ObjectMapper().readTree(runDir.resolve("result.json").toFile()).get("final_val_loss").asDouble();
        Files.delete(runDir.resolve("result.json"));
        TrainCheckpoint.deleteTree(runDir.resolve("checkpoints/step-000004"));
        Files.writeString(runDir.resolve("checkpoints/latest"), "step-000002\n");
        return loss;
    }

    /** Writes the corpus (seeded) and the config; returns the config's path. */
    public static Path write(Path dir, long corpusSeed, int checkpointEvery) throws IOException {
        Path data = dir.resolve("data");
        SampleCorpus.generate(data, 40_000, corpusSeed, null);
        Path config = dir.resolve("tiny-test.yaml");
        Files.writeString(config, """
                backend: cpu
                world_size: 1
                train_data: %s/sample_train_*.bin
                val_data: %s/sample_val_*.bin
                model: {num_heads: 2, head_dim: 8, model_dim: 16, block_size: 4, max_seq_len: 64}
                micro_batches: 2
                schedule:
                  scheduled_steps: 6
                  extension_steps: 2
                  batch_tokens: [128, 128, 256]
                  extension_batch_tokens: 256
                  momentum_warmup_steps: 3
                  momentum_cooldown_steps: 2
                  transition_freeze_steps: 2
                  val_every: 3
                validation: {tokens: 512, batch_tokens: 128}
                checkpoint: {every: %d}
                """.formatted(data, data, checkpointEvery));
        return config;
    }
}
