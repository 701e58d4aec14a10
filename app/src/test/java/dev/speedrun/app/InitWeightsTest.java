package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.speedrun.app.config.ConfigException;
import dev.speedrun.testsupport.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --steps 0} writes the initial weights; {@code --init-weights} starts a run from a file of the record's state-dict names. */
class InitWeightsTest {
    @TempDir static Path tmp;
    static Path config;

    @BeforeAll static void corpus() throws Exception { config = TinyRunConfig.write(tmp, 31, 0); }

    static TrainCommand command(String out, int steps, long seed) {
        TrainCommand c = TinyRunConfig.command(config, tmp.resolve(out), List.of("cwd"), steps);
        c.seed = seed;
        return c;
    }

    static List<Double> trainLosses(TrainCommand c) throws Exception {
        List<Double> out = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(c.lastResult.metrics())) {
            var n = json.readTree(line);
            if (!n.get("train_loss").isNull()) out.add(n.get("train_loss").asDouble());
        }
        return out;
    }

    @Test void stepZeroWeightsStartAnotherSeedsRunWhereTheFirstSeedStarts() throws Exception {
        TrainCommand zero = command("zero", 0, 7);
        assertEquals(0, zero.call());
        assertEquals(0, zero.lastResult.stepsTrained());
        Path weights = zero.lastResult.checkpoint().resolve("model.safetensors");
        assertTrue(zero.lastResult.checkpoint().getFileName().toString().endsWith("000000"), zero.lastResult.checkpoint().toString());
        assertTrue(Files.isRegularFile(weights), weights + " missing");
        assertTrue(trainLosses(zero).isEmpty(), "--steps 0 trains nothing");

        TrainCommand seeded = command("seeded", 3, 7);
        assertEquals(0, seeded.call());
        TrainCommand fromFile = command("from-file", 3, 99);   // another seed: only the file makes the weights equal
        fromFile.initWeights = weights;
        assertEquals(0, fromFile.call());
        List<Double> a = trainLosses(seeded), b = trainLosses(fromFile);
        assertEquals(3, a.size());
        assertEquals(a, b, "seed 99 started from seed 7's step-0 weights trains exactly as seed 7");
        TrainCommand otherSeed = command("other", 3, 99);
        assertEquals(0, otherSeed.call());
        assertNotEquals(a.getFirst(), trainLosses(otherSeed).getFirst(), "the seed changes the initialisation (else the test shows nothing)");
    }

    @Test void weightsThatDoNotFitAreNamed() {
        TrainCommand c = command("bad", 1, 0);
        c.initWeights = Fixtures.file("model_tiny.safetensors");   // the fixture model: another vocabulary size
        var e = assertThrows(ConfigException.class, c::call);
        assertTrue(e.getMessage().startsWith("--init-weights " + c.initWeights) && e.getMessage().contains("tensor '")
                && e.getMessage().contains("shape"), e.getMessage());
        TrainCommand missing = command("missing", 1, 0);
        missing.initWeights = tmp.resolve("nope.safetensors");
        var m = assertThrows(ConfigException.class, missing::call);
        assertTrue(m.getMessage().contains("--init-weights") && m.getMessage().contains("nope.safetensors"), m.getMessage());
    }
}
