package dev.speedrun.bench;

import dev.speedrun.kernels.cpu.CpuGemm;
import dev.speedrun.tensor.CpuBackend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Square F32 GEMM {@code C[N,N] = A[N,N]·B[N,N]} through {@link CpuGemm} (all threads of the GEMM
 * pool). Reported as time per call; GFLOP/s = 2·N³ / time. Run:
 * {@code java -jar bench/target/benchmarks.jar GemmBenchmark}.
 * The transposed variant ({@code x·Wᵀ}, the forward of a linear layer) is measured too.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class GemmBenchmark {
    @Param({"256", "512", "1024"})
    public int n;

    private MemoryArena arena;
    private Tensor a, b, c;

    @Setup(Level.Trial)
    public void setUp() {
        arena = new MemoryArena(new CpuBackend());
        a = random(1);
        b = random(2);
        c = arena.allocate(DType.F32, n, n);
    }

    private Tensor random(long seed) {
        Tensor t = arena.allocate(DType.F32, n, n);
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[n * n];
        for (int i = 0; i < v.length; i++) v[i] = r.nextDouble(-1, 1);
        HostData.write(t, v);
        return t;
    }

    @TearDown(Level.Trial)
    public void tearDown() { arena.close(); }

    @Benchmark
    public Tensor sgemmNN() {
        CpuGemm.matmul(c, a, b, false, false, 1.0, 0.0);
        return c;
    }

    @Benchmark
    public Tensor sgemmNT() {
        CpuGemm.matmul(c, a, b, false, true, 1.0, 0.0);
        return c;
    }
}
