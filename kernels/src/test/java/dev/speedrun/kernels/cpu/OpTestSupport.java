package dev.speedrun.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.Backends;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Storage;
import dev.speedrun.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.DoubleSupplier;
import org.junit.jupiter.api.AfterEach;

/**
 * Shared helpers of the op tests: tensors from arrays, random data, tolerant comparisons that
 * record the worst error seen, and central finite differences.
 */
abstract class OpTestSupport {
    /** Relative tolerances: results vs float64 reference code. */
    static final double TOL_F32 = 1e-5, TOL_F64 = 1e-12;
    /** Finite differences (h = 1e-6, central) agree with analytic gradients to about this. */
    static final double TOL_FD = 1e-6;
    static final double FD_H = 1e-6;

    static final Ops OPS = Kernels.cpu();
    static final Backend CPU = Backends.cpu();
    /** Worst normalised error per tag, printed at the end of the run (for the report). */
    static final java.util.Map<String, Double> WORST = new java.util.concurrent.ConcurrentSkipListMap<>();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            StringBuilder sb = new StringBuilder("worst normalised errors:\n");
            WORST.forEach((k, v) -> sb.append(String.format("  %-28s %.3e%n", k, v)));
            // surefire does not show a forked JVM's output after the last test: keep it in target/
            try {
                java.nio.file.Files.writeString(java.nio.file.Path.of("target", "op-test-worst-errors.txt"), sb);
            } catch (java.io.IOException | RuntimeException ignored) {
                System.out.print(sb);
            }
        }));
    }

    private final List<Storage> storages = new ArrayList<>();
    final Random rnd = new Random(1234);

    @AfterEach void freeTensors() {
        for (Storage s : storages) CPU.free(s);
        storages.clear();
    }

    static double tol(DType d) { return d == DType.F64 ? TOL_F64 : TOL_F32; }

    Tensor zeros(DType dtype, long... dims) {
        long n = 1;
        for (long d : dims) n *= d;
        Storage s = CPU.allocate(Math.max(1, n * dtype.byteSize()));
        storages.add(s);
        return new Tensor(s, dtype, 0, dev.speedrun.tensor.Shape.of(dims));
    }

    Tensor t(DType dtype, double[] values, long... dims) {
        Tensor t = zeros(dtype, dims);
        HostData.write(t, values);
        return t;
    }

    Tensor ints(int[] values, long... dims) {
        Tensor t = zeros(DType.I32, dims);
        HostData.write(t, values);
        return t;
    }

    Tensor scalar(DType dtype, double v) { return t(dtype, new double[] {v}, 1); }

    static double[] d(Tensor t) { return HostData.toDoubles(t); }

    double[] uniform(int n, double lo, double hi) {
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * rnd.nextDouble();
        return a;
    }

    double[] randn(int n) { return uniform(n, -1, 1); }

    /** Random tensor of U(−1, 1) values (as stored in dtype). */
    Tensor rand(DType dtype, long... dims) {
        long n = 1;
        for (long x : dims) n *= x;
        return t(dtype, randn(Math.toIntExact(n)), dims);
    }

    static double[] minus(double[] a, double[] b) {
        double[] r = a.clone();
        for (int i = 0; i < r.length; i++) r[i] -= b[i];
        return r;
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }

    /**
     * Element-wise check scaled by the array's magnitude: |e − a| ≤ tol·(|e| + max|e|·1e-2 +
     * 1e-30), so entries that are sums with cancellation are judged against the array's scale.
     * Records the worst ratio under {@code tag}.
     */
    static void close(String tag, double[] expected, double[] actual, double tol) { close(tag, expected, actual, tol, 0); }

    /** As {@link #close(String, double[], double[], double)} with an absolute floor added to the scale. */
    static void close(String tag, double[] expected, double[] actual, double tol, double floor) {
        assertEquals(expected.length, actual.length, tag + ": length");
        double scale = 0;
        for (double e : expected) scale = Math.max(scale, Math.abs(e));
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < expected.length; i++) {
            double allowed = Math.abs(expected[i]) + scale * 1e-2 + floor + 1e-30;
            double err = Math.abs(expected[i] - actual[i]) / allowed;
            if (!(err <= worst)) { worst = err; worstAt = i; }
            if (Double.isNaN(actual[i]) != Double.isNaN(expected[i])) fail(tag + ": NaN mismatch at " + i);
        }
        WORST.merge(tag, worst, Math::max);
        if (worst > tol)
            fail(String.format("%s: element %d expected %.17g but was %.17g (normalised error %.3e > %.1e)",
                    tag, worstAt, expected[worstAt], actual[worstAt], worst, tol));
    }

    /**
     * Central finite differences of {@code loss} with respect to every element of {@code input}
     * (F64), compared with {@code analytic}.
     */
    /**
     * The probe loss of the finite-difference checks, {@code Σ r·out} after {@code forward} has
     * rewritten {@code out}: its gradient with respect to an input is the op's backward with
     * {@code dOut = r}. r is read once, here.
     */
    static DoubleSupplier projection(Tensor r, Tensor out, Runnable forward) {
        double[] rv = d(r);
        return () -> { forward.run(); return dot(rv, d(out)); };
    }

    static void fdCheck(String tag, Tensor input, double[] analytic, DoubleSupplier loss) {
        if (input.dtype() != DType.F64) throw new IllegalArgumentException("finite differences need F64, got " + input);
        double[] base = d(input);
        double[] fd = new double[base.length];
        double noise = 0; // rounding of the loss divided by 2h: the absolute resolution of the differences
        var seg = input.segment();
        for (int i = 0; i < base.length; i++) {
            seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_DOUBLE_UNALIGNED, i, base[i] + FD_H);
            double lp = loss.getAsDouble();
            seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_DOUBLE_UNALIGNED, i, base[i] - FD_H);
            double lm = loss.getAsDouble();
            seg.setAtIndex(java.lang.foreign.ValueLayout.JAVA_DOUBLE_UNALIGNED, i, base[i]);
            fd[i] = (lp - lm) / (2 * FD_H);
            noise = Math.max(noise, 64 * Math.ulp(Math.max(Math.abs(lp), Math.abs(lm))) / (2 * FD_H));
        }
        close("fd " + tag, fd, analytic, TOL_FD, noise / TOL_FD);
    }
}
