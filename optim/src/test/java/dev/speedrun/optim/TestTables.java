package dev.speedrun.optim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.model.Init;
import dev.speedrun.model.ParamSpec;
import dev.speedrun.model.Parameter;
import dev.speedrun.model.ParameterTable;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Shape;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Test helpers: parameter tables on an arena, fixtures, the cautious masks of the fixtures. */
final class TestTables {
    private TestTables() {}

    /** The mask for a fixture's "cautious_mask" (">=" or ">"). */
    static DecayMask maskFor(String cautiousMask) {
        return switch (cautiousMask) {
            case ">=" -> DecayMask.GE;
            case ">" -> DecayMask.GT;
            default -> throw new IllegalArgumentException("unknown cautious_mask '" + cautiousMask + "' in optimizers.json");
        };
    }

    record Table(List<Parameter> parameters) implements ParameterTable {}

    static ParamSpec spec(String name, String label, double lrMul, double wdMul, long... dims) {
        return new ParamSpec(name, Shape.of(dims), new Init.Zeros(), label, lrMul, wdMul, DType.F32);
    }

    /** Parameters with zero values and gradients of {@code dtype}, allocated in {@code arena}. */
    static Table table(MemoryArena arena, DType dtype, List<ParamSpec> specs) {
        List<Parameter> ps = new ArrayList<>();
        for (ParamSpec s : specs)
            ps.add(new Parameter(s, arena.allocate(dtype, s.shape().dims()), arena.allocate(dtype, s.shape().dims())));
        return new Table(ps);
    }

    static Path fixturesDir() {
        String dir = System.getProperty("fixtures.dir");
        if (dir == null) throw new IllegalStateException("system property fixtures.dir is not set (the parent pom sets it)");
        Path p = Path.of(dir);
        if (!Files.isDirectory(p))
            throw new IllegalStateException("fixtures folder " + p.toAbsolutePath() + " (fixtures.dir) does not exist");
        return p;
    }

    static JsonNode fixture(String file) {
        Path p = fixturesDir().resolve(file);
        try {
            return new ObjectMapper().readTree(p.toFile());
        } catch (IOException e) {
            throw new IllegalStateException("cannot read fixture " + p + ": " + e.getMessage(), e);
        }
    }

    /** A JSON array (nested to any depth) flattened row-major. */
    static double[] flat(JsonNode n) {
        List<Double> out = new ArrayList<>();
        flatten(n, out);
        double[] d = new double[out.size()];
        for (int i = 0; i < d.length; i++) d[i] = out.get(i);
        return d;
    }

    private static void flatten(JsonNode n, List<Double> out) {
        if (n.isArray()) for (JsonNode c : n) flatten(c, out);
        else out.add(n.asDouble());
    }

    /** Dimensions of a rectangular nested JSON array. */
    static long[] dims(JsonNode n) {
        List<Long> d = new ArrayList<>();
        while (n.isArray()) {
            d.add((long) n.size());
            n = n.get(0);
        }
        return d.stream().mapToLong(Long::longValue).toArray();
    }

    /** max |a − b| / max(max |b|, tiny). */
    static double relErr(double[] a, double[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num = Math.max(num, Math.abs(a[i] - b[i]));
            den = Math.max(den, Math.abs(b[i]));
        }
        return num / Math.max(den, 1e-300);
    }
}
