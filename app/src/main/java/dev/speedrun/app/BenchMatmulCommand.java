package dev.speedrun.app;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench matmul}: times one square GEMM {@code C = A·B} (N×N, no transposes) through the
 * backend's {@code Ops.matmul} and prints the median time and GFLOP/s (2·N³ flops per call).
 * Works for any backend that has ops; the backend is synchronised around every timed call.
 */
@Command(name = "matmul", mixinStandardHelpOptions = true,
        description = "Times an N×N×N matmul on a backend and prints GFLOP/s (median of --iters runs).")
public final class BenchMatmulCommand implements Callable<Integer> {
    @Option(names = "--size", required = true, description = "matrix size N (C[N,N] = A[N,N]·B[N,N])") int size;
    @Option(names = "--backend", defaultValue = "cpu", description = "backend name (default: ${DEFAULT-VALUE})") String backend;
    @Option(names = "--dtype", defaultValue = "f32", description = "element type: f32 or f64 (default: ${DEFAULT-VALUE})") String dtype;
    @Option(names = "--iters", defaultValue = "10", description = "timed runs; the median is reported (default: ${DEFAULT-VALUE})") int iters;
    @Option(names = "--warmup", defaultValue = "-1",
            description = "untimed runs first (default: at least 10 runs and 5 s, for the JIT to reach its final code)") int warmup;

    @Override public Integer call() {
        if (size < 1) throw new IllegalArgumentException("--size must be ≥ 1, got " + size);
        if (iters < 1) throw new IllegalArgumentException("--iters must be ≥ 1, got " + iters);
        DType dt = DType.parse(dtype);
        if (dt != DType.F32 && dt != DType.F64)
            throw new IllegalArgumentException("--dtype must be f32 or f64, got '" + dtype + "'");
        Ops ops = Kernels.ops(backend);
        Backend be = ops.backend();
        double flops = 2.0 * size * size * size;
        try (MemoryArena arena = be.newArena()) {
            Tensor a = arena.allocate(dt, size, size), b = arena.allocate(dt, size, size), c = arena.allocate(dt, size, size);
            fillRandom(a, 1);
            fillRandom(b, 2);
            // Warm-up: JIT compilation of the GEMM (CPU) or module loading and autotuning (GPU).
            int n = warmup;
            long t0 = System.nanoTime();
            if (n < 0) {
                n = 0;
                while (n < 10 || (System.nanoTime() - t0 < 5_000_000_000L && n < 500)) { run(ops, be, c, a, b); n++; }
            } else for (int i = 0; i < n; i++) run(ops, be, c, a, b);
            double[] ms = Timings.sortedMs(iters, () -> run(ops, be, c, a, b));
            double median = Timings.median(ms);
            System.out.printf("matmul %s %s N=%d: %.2f ms, %.1f GFLOP/s (median of %d; best %.1f GFLOP/s; %d warm-up runs)%n",
                    be.name(), dt.name().toLowerCase(), size, median, flops / median / 1e6, iters, flops / ms[0] / 1e6, n);
            String how = Kernels.describe(be.name());
            if (!how.isEmpty()) System.out.println("  " + how);
        }
        return 0;
    }

    private static void run(Ops ops, Backend be, Tensor c, Tensor a, Tensor b) {
        ops.matmul(c, a, b, false, false, 1.0, 0.0);
        be.synchronize();
    }

    /** Uniform values in [-1, 1), written through the backend (host data copied once). */
    private static void fillRandom(Tensor t, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[Math.toIntExact(t.numel())];
        for (int i = 0; i < v.length; i++) v[i] = r.nextDouble(-1, 1);
        dev.speedrun.tensor.HostData.write(t, v);
    }
}
