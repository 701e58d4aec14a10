package dev.speedrun.app;

import java.util.Arrays;

/** The timed part of the micro-benchmarks ({@code bench matmul}, {@code bench step}): each call timed alone, the median reported. */
final class Timings {
    private Timings() {}

    /** Milliseconds of each of {@code iters} calls of {@code call} (≥ 1), sorted: the fastest first. */
    static double[] sortedMs(int iters, Runnable call) {
        double[] ms = new double[iters];
        for (int i = 0; i < iters; i++) {
            long s = System.nanoTime();
            call.run();
            ms[i] = (System.nanoTime() - s) / 1e6;
        }
        Arrays.sort(ms);
        return ms;
    }

    /** The median of sorted values (the mean of the middle two for an even count). */
    static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
