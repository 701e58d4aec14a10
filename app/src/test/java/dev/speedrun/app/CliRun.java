package dev.speedrun.app;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/** One CLI invocation through {@link Main#execute} as a user runs it: exit code and both streams. */
public record CliRun(int code, String out, String err) {
    public static CliRun of(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.execute(args);
            return new CliRun(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    /**
     * Runs the CLI and asserts its exit code (the failure shows both streams); returns standard
     * output followed by standard error.
     */
    public static String expect(int exitCode, String... args) {
        CliRun r = of(args);
        org.junit.jupiter.api.Assertions.assertEquals(exitCode, r.code(), r::all);
        return r.all();
    }

    /** Standard output followed by standard error. */
    public String all() { return out + err; }
}
