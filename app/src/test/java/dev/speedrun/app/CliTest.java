package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CliTest {
    record Result(int code, String out, String err) {}

    static Result run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        var out = new ByteArrayOutputStream();
        var err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true));
            System.setErr(new PrintStream(err, true));
            int code = Main.execute(args);
            return new Result(code, out.toString(), err.toString());
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test void pluginsListsTheFourWithDescriptions() {
        Result r = run("plugins");
        assertEquals(0, r.code(), r.err());
        for (String n : new String[] {"mtp", "untie", "cwd", "adam-cwd-strict"}) assertTrue(r.out().contains(n), r.out());
        assertTrue(r.out().contains("cautious"), r.out());
    }

    @Test void pluginPathMustBeAFolder(@TempDir Path dir) {
        Result r = run("plugins", "--plugin-path", dir.resolve("missing").toString());
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains("missing") && r.err().contains("not a folder"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace without --verbose: " + r.err());
    }

    @Test void emptyPluginPathIsFine(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("notes.txt"), "not a jar");
        Result r = run("plugins", "--plugin-path", dir.toString());
        assertEquals(0, r.code(), r.err());
    }

    @Test void trainErrorsNameTheValueAndListValidOnes(@TempDir Path dir) throws Exception {
        Result r = run("train", "--backend", "tpu", "--config", "tiny-cpu");
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
