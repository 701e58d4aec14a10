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
}
