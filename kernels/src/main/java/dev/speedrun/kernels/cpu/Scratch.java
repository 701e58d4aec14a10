package dev.speedrun.kernels.cpu;

/**
 * Per-thread scratch arrays that grow and are reused, so hot ops allocate nothing per call.
 * Slots 0 and 1 (doubles and ints) belong to an op's calling thread for the whole call; slots
 * 2 and up belong to parallel task bodies, which may run on the calling thread too.
 */
final class Scratch {
    private Scratch() {}

    private static final int SLOTS = 10;
    /** First slot a parallel task body may use. */
    static final int TASK = 2;
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
