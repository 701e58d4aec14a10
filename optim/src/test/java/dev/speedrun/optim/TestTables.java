package dev.speedrun.optim;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.model.Init;
import dev.speedrun.model.ParamSpec;
import dev.speedrun.model.Parameter;
import dev.speedrun.model.ParameterTable;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Shape;
import dev.speedrun.testsupport.Fixtures;
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

    static JsonNode fixture(String file) { return Fixtures.json(file); }

    /** A JSON array (nested to any depth) flattened row-major. */
    static double[] flat(JsonNode n) { return Fixtures.doubles(n); }

    /** Dimensions of a rectangular nested JSON array. */
    static long[] dims(JsonNode n) { return Fixtures.dims(n); }

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
