package dev.speedrun.kernels.cpu;

/**
 * Per-thread scratch arrays that grow and are reused, so hot ops allocate nothing per call.
 * A slot may be used by one op at a time on one thread; ops never call each other while
 * holding a slot.
 */
final class Scratch {
    private Scratch() {}

    private static final int SLOTS = 8;
    private static final ThreadLocal<double[][]> DOUBLES = ThreadLocal.withInitial(() -> new double[SLOTS][]);
    private static final ThreadLocal<int[][]> INTS = ThreadLocal.withInitial(() -> new int[SLOTS][]);

    /** At least {@code n} doubles in slot {@code slot}; contents undefined. */
    static double[] doubles(int slot, int n) {
        double[][] s = DOUBLES.get();
        if (s[slot] == null || s[slot].length < n) s[slot] = new double[Math.max(n, 16)];
        return s[slot];
    }

    /** At least {@code n} ints in slot {@code slot}; contents undefined. */
    static int[] ints(int slot, int n) {
        int[][] s = INTS.get();
        if (s[slot] == null || s[slot].length < n) s[slot] = new int[Math.max(n, 16)];
        return s[slot];
    }
}
