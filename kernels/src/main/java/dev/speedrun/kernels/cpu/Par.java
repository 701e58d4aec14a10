package dev.speedrun.kernels.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/** Parallel loops over the common pool when the work is large enough to pay for the fork. */
final class Par {
    private Par() {}

    /** Roughly the number of multiply-adds below which forking costs more than it saves. */
    static final long THRESHOLD = 1L << 15;

    /** Runs {@code body(i)} for i in [0, n); in parallel when n·workPerItem ≥ {@link #THRESHOLD}. */
    static void forEach(int n, long workPerItem, IntConsumer body) {
        if (n > 1 && (long) n * Math.max(1, workPerItem) >= THRESHOLD && ForkJoinPool.getCommonPoolParallelism() > 1) {
            IntStream.range(0, n).parallel().forEach(body);
        } else {
            for (int i = 0; i < n; i++) body.accept(i);
        }
    }
}
