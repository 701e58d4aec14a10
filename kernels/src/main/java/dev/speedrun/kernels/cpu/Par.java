package dev.speedrun.kernels.cpu;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/**
 * Parallel loops over a fork-join pool of the kernels' own, used when the work is large enough
 * to pay for the fork. A separate pool (not the common one) means a pool thread only ever runs
 * op task bodies, which never fork or join themselves, so per-thread scratch held by an op's
 * calling thread ({@link Scratch} caller slots) is never reused by a task running on the same
 * thread, whoever the caller is.
 */
final class Par {
    private Par() {}

    /** Roughly the number of multiply-adds below which forking costs more than it saves. */
    static final long THRESHOLD = 1L << 17;

    private static final ForkJoinPool POOL = new ForkJoinPool(Math.max(1, Runtime.getRuntime().availableProcessors()));

    /** Runs {@code body(i)} for i in [0, n); in parallel when n·workPerItem ≥ {@link #THRESHOLD}. */
    static void forEach(int n, long workPerItem, IntConsumer body) {
        if (n > 1 && (long) n * Math.max(1, workPerItem) >= THRESHOLD && POOL.getParallelism() > 1) {
            if (Thread.currentThread() instanceof ForkJoinWorkerThread w && w.getPool() == POOL) { // already on a kernel thread: stay serial
                for (int i = 0; i < n; i++) body.accept(i);
                return;
            }
            POOL.submit(() -> IntStream.range(0, n).parallel().forEach(body)).join();
        } else {
            for (int i = 0; i < n; i++) body.accept(i);
        }
    }

    /** Elements per parallel block of the elementwise loops. */
    static final int BLOCK = 1 << 14;

    /** Number of {@link #BLOCK}-element blocks covering n elements. */
    static int blockCount(long n) { return Math.toIntExact((n + BLOCK - 1) / BLOCK); }

    interface Range { void run(long from, long to); }

    /** Runs {@code body(from, to)} over [0, n) in blocks, in parallel when n·cost is large. */
    static void blocks(long n, int costPerElement, Range body) {
        forEach(blockCount(n), (long) BLOCK * costPerElement, b -> {
            long from = (long) b * BLOCK;
            body.run(from, Math.min(n, from + BLOCK));
        });
    }

    interface RowRange { void run(int from, int to); }

    /** Runs {@code body(r0, r1)} over rows [0, R) in blocks of 32 rows (one fork per block, not per row). */
    static void rowBlocks(long R, long costPerRow, RowRange body) {
        int rows = Math.toIntExact(R), per = 32, nb = (rows + per - 1) / per;
        forEach(nb, per * costPerRow, b -> body.run(b * per, Math.min(rows, b * per + per)));
    }
}
