package dev.speedrun.testsupport;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The reference fixtures (float64 values of the record's formulas) that every module's tests read.
 *
 * <p>One setting chooses the folder: the system property {@value #PROPERTY}, which the parent pom
 * sets to the project's own copy ({@code fixtures/} at the repository root) unless the Maven
 * command line names another ({@code -Dfixtures.dir=OTHER}: every fixture-driven test of every
 * module then reads OTHER). Run outside Maven (an IDE), the default is found by walking up from
 * the working directory to the repository root. Tests take every size and value from the files,
 * so another case set with the same schema must pass too.
 */
public final class Fixtures {
    /** The system property naming the fixtures folder. */
    public static final String PROPERTY = "fixtures.dir";

    private Fixtures() {}

    /** The fixtures folder; fails naming the folder and the property when it is missing. */
    public static Path dir() {
        String prop = System.getProperty(PROPERTY);
        Path p = prop != null ? Path.of(prop) : ProjectRoot.find().resolve("fixtures");
        if (!Files.isDirectory(p))
            throw new IllegalStateException("fixtures folder " + p.toAbsolutePath() + " does not exist ("
                    + (prop != null ? "-D" + PROPERTY + "=" + prop : "the project's copy; set -D" + PROPERTY) + ")");
        return p;
    }

    /** A fixture file; fails naming it when it is missing. */
    public static Path file(String name) {
        Path p = dir().resolve(name);
        if (!Files.isRegularFile(p))
            throw new IllegalStateException("fixture " + p.toAbsolutePath() + " is missing (" + PROPERTY + " = " + dir() + ")");
        return p;
    }

    /** A JSON fixture, parsed. */
    public static JsonNode json(String name) {
        Path p = file(name);
        try {
            return new ObjectMapper().readTree(p.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read fixture " + p + ": " + e.getMessage(), e);
        }
    }

    /** The lines of a text fixture (a CSV). */
    public static List<String> lines(String name) {
        Path p = file(name);
        try {
            return Files.readAllLines(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read fixture " + p + ": " + e.getMessage(), e);
        }
    }

    /** A flat JSON array of integers. */
    public static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
        return r;
    }

    /** A JSON array of numbers nested to any depth, flattened row-major. */
    public static double[] doubles(JsonNode a) {
        List<Double> out = new ArrayList<>();
        flatten(a, out);
        double[] d = new double[out.size()];
        for (int i = 0; i < d.length; i++) d[i] = out.get(i);
        return d;
    }

    private static void flatten(JsonNode n, List<Double> out) {
        if (n.isArray()) for (JsonNode c : n) flatten(c, out);
        else out.add(n.asDouble());
    }

    /** Dimensions of a rectangular nested JSON array ({@code [[1,2,3],[4,5,6]]} → {2, 3}). */
    public static long[] dims(JsonNode n) {
        List<Long> d = new ArrayList<>();
        while (n.isArray()) {
            d.add((long) n.size());
            n = n.get(0);
        }
        return d.stream().mapToLong(Long::longValue).toArray();
    }
}
