package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.speedrun.app.config.ConfigException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Validation as the record measures it (docs/record-178.md §1): every forward covers
 * validation.batch_tokens / micro_batches tokens (here larger than any training micro-batch),
 * exactly validation.tokens tokens are evaluated, and the loss is the same on 1, 2 and 4 ranks.
 */
class ValidationTest {
    @TempDir static Path tmp;
    static Path config;
    static final int VAL_TOKENS = 2048, VAL_BATCH = 512, MICRO = 4;

    @BeforeAll static void corpus() throws Exception {
        Path base = TinyRunConfig.write(tmp, 23, 0);
        String yaml = Files.readString(base)
                .replace("micro_batches: 2", "micro_batches: " + MICRO)
                .replace("validation: {tokens: 512, batch_tokens: 128}", "validation: {tokens: " + VAL_TOKENS + ", batch_tokens: " + VAL_BATCH + "}");
        assertTrue(yaml.contains("micro_batches: " + MICRO) && yaml.contains("tokens: " + VAL_TOKENS), "config template changed:\n" + yaml);
        config = tmp.resolve("validation.yaml");
        Files.writeString(config, yaml);
    }

    static TrainCommand command(Path cfg, String out, int world, int steps) {
        TrainCommand c = TinyRunConfig.command(cfg, tmp.resolve(out), List.of("cwd"), steps);
        c.backend = "cpu";
        c.worldSize = world;
        return c;
    }

    /** The validation lines of a run's metrics.jsonl. */
    static List<JsonNode> validations(TrainCommand c) throws Exception {
        List<JsonNode> out = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(c.lastResult.metrics())) {
            JsonNode n = json.readTree(line);
            if (!n.get("val_loss").isNull()) out.add(n);
            else assertTrue(n.get("val_tokens").isNull(), "a training line carries no val_tokens: " + line);
        }
        return out;
    }

    @Test void theLossIsTheSameOnOneTwoAndFourRanksAndCoversExactlyTheConfiguredTokens() throws Exception {
        double first = Double.NaN;
        for (int world : new int[] {1, 2, 4}) {
            TrainCommand c = command(config, "w" + world, world, 1);
            assertEquals(0, c.call(), "world " + world);
            List<JsonNode> v = validations(c);
            assertEquals(2, v.size(), "validation at step 0 and at the end (world " + world + ")");
            for (JsonNode n : v) assertEquals(VAL_TOKENS, n.get("val_tokens").asLong(), "val_tokens (world " + world + ")");
            double loss = v.getFirst().get("val_loss").asDouble();
            assertTrue(Double.isFinite(loss) && loss > 0, "val_loss " + loss);
            if (world == 1) first = loss;
            else assertEquals(first, loss, 1e-6 * first, "step-0 val_loss on " + world + " ranks vs 1 rank");
        }
    }

    @Test void aValidationThatDoesNotDivideIsAnErrorNamingBothKeys() throws Exception {
        String yaml = Files.readString(config);
        Path notMultiple = tmp.resolve("bad-tokens.yaml");
        Files.writeString(notMultiple, yaml.replace("tokens: " + VAL_TOKENS + ",", "tokens: " + (VAL_TOKENS + VAL_BATCH / 2) + ","));
        var e = assertThrows(ConfigException.class, () -> command(notMultiple, "bad1", 1, 1).call());
        assertTrue(e.getMessage().contains("validation.tokens") && e.getMessage().contains("validation.batch_tokens"), e.getMessage());
        Path notPerForward = tmp.resolve("bad-batch.yaml");
        Files.writeString(notPerForward, yaml.replace("batch_tokens: " + VAL_BATCH + "}", "batch_tokens: " + (VAL_BATCH + 2) + "}")
                .replace("tokens: " + VAL_TOKENS + ",", "tokens: " + 4 * (VAL_BATCH + 2) + ","));
        var f = assertThrows(ConfigException.class, () -> command(notPerForward, "bad2", 1, 1).call());
        assertTrue(f.getMessage().contains("validation.batch_tokens") && f.getMessage().contains("micro_batches"), f.getMessage());
    }
}
