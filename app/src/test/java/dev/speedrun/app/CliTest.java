package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CliTest {
    static CliRun run(String... args) { return CliRun.of(args); }

    @Test void pluginsListsTheFourWithDescriptions() {
        CliRun r = run("plugins");
        assertEquals(0, r.code(), r.err());
        for (String n : new String[] {"mtp", "untie", "cwd", "adam-cwd-strict"}) assertTrue(r.out().contains(n), r.out());
        assertTrue(r.out().contains("cautious"), r.out());
    }

    @Test void pluginPathMustBeAFolder(@TempDir Path dir) {
        CliRun r = run("plugins", "--plugin-path", dir.resolve("missing").toString());
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("missing") && r.err().contains("not a folder"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace without --verbose: " + r.err());
    }

    @Test void emptyPluginPathIsFine(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("notes.txt"), "not a jar");
        CliRun r = run("plugins", "--plugin-path", dir.toString());
        assertEquals(0, r.code(), r.err());
    }

    @Test void trainErrorsNameTheValueAndListValidOnes(@TempDir Path dir) throws Exception {
        CliRun r = run("train", "--backend", "tpu", "--config", "tiny-cpu");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("'tpu'") && r.err().contains("cpu"), r.err());
        assertFalse(r.err().contains("\tat "), r.err());
        r = run("train", "--plugins", "mtp,warp-drive", "--config", "tiny-cpu");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("'warp-drive'") && r.err().contains("untie"), r.err());
        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, "optim:\n  adam:\n    learning_rate: 1\n");
        r = run("train", "--config", bad.toString());
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("optim.adam.learning_rate") && r.err().contains("lr"), r.err());
        r = run("train", "--config", bad.toString(), "--verbose");
        assertTrue(r.err().contains("\tat "), "--verbose shows the stack trace: " + r.err());
        r = run("train", "--stepz", "3");
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("--stepz"), r.err());
    }
}
