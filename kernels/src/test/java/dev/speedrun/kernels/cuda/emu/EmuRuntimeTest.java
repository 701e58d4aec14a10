package dev.speedrun.kernels.cuda.emu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.speedrun.kernels.cuda.CudaDevice.Dim3;
import dev.speedrun.kernels.cuda.Kernel;
import dev.speedrun.kernels.cuda.emu.EmuDevice.Options;
import dev.speedrun.kernels.cuda.emu.EmuDevice.Order;
import dev.speedrun.tensor.BFloat16;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The emulator itself, on the test kernels of src/test/cuda-emu: the kernel registry against the
 * launch table, warp shuffles against the CUDA programming guide's definitions, votes, the three
 * thread orders finding a missing barrier, strict barriers, deadlocks reported (not hung), launch
 * checks, and the emulated tensor-core fragments (mma.m16n8k16 and ldmatrix) against a plain GEMM.
 * Skipped, naming what is missing, where the build had no g++.
 */
class EmuRuntimeTest {
    static EmuLibrary tests;

    @BeforeAll static void load() {
        String why = EmuLibrary.problem("cuda-emu-tests");
        assumeTrue(why.isEmpty(), why);
        tests = EmuLibrary.load("cuda-emu-tests");
    }

    private static EmuDevice device(Options o) { return new EmuDevice(new EmuBackend(), tests, o); }

    private static final Options STRICT = Options.DEFAULT;

    /** Launches a test kernel with raw argument values (segments for pointers, boxed ints/floats). */
    private static void run(EmuDevice d, String name, Dim3 grid, Dim3 block, Object... args) {
        try (Arena a = Arena.ofConfined()) {
            List<MemorySegment> v = new ArrayList<>();
            for (Object x : args)
                v.add(switch (x) {
                    case MemorySegment m -> a.allocateFrom(JAVA_LONG, m.address());
                    case Integer i -> a.allocateFrom(JAVA_INT, i);
                    case Float f -> a.allocateFrom(JAVA_FLOAT, f);
                    default -> throw new IllegalArgumentException(String.valueOf(x));
                });
            d.launchRaw(name, grid, block, 0, v, a);
        }
    }

    @Test void registryHoldsEveryKernelOfTheLaunchTable() {
        String why = EmuLibrary.problem(EmuLibrary.MAIN);
        assumeTrue(why.isEmpty(), why);
        Set<String> table = new TreeSet<>();
        for (Kernel k : Kernel.values()) table.add(k.cName());
        assertEquals(table, new TreeSet<>(EmuLibrary.main().kernels()));
    }

    /** The CUDA programming guide's definition of each shuffle (lanes of one warp, var = 100 + lane). */
    static int expected(int mode, int lane, int b, int width) {
        int seg = lane / width * width;
        int src = switch (mode) {
            case 0 -> seg + Math.floorMod(b, width);
            case 1 -> lane % width < b ? lane : lane - b;
            case 2 -> lane % width + b >= width ? lane : lane + b;
            default -> (lane ^ b) >= seg + width ? lane : lane ^ b;
        };
        return 100 + src;
    }

    @Test void shufflesFollowTheCudaDefinitions() {
        EmuDevice d = device(STRICT);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT, 32);
            int[][] cases = {{0, 0}, {0, 3}, {0, 31}, {0, 37}, {1, 1}, {1, 3}, {1, 16}, {2, 1}, {2, 3}, {2, 16}, {3, 1}, {3, 8}, {3, 16}, {3, 31}};
            for (int[] c : cases)
                for (int width : new int[] {32, 16, 8}) {
                    run(d, "emu_test_shfl", Dim3.of(1), Dim3.of(32), out, c[0], c[1], width, -1);
                    for (int lane = 0; lane < 32; lane++)
                        assertEquals(expected(c[0], lane, c[1], width), out.getAtIndex(JAVA_INT, lane),
                                "mode " + c[0] + " b " + c[1] + " width " + width + " lane " + lane);
                }
            // half a warp shuffles among itself while the other half does not take part
            run(d, "emu_test_shfl", Dim3.of(1), Dim3.of(32), out, 3, 1, 16, 0x0000ffff);
            for (int lane = 0; lane < 32; lane++)
                assertEquals(lane < 16 ? expected(3, lane, 1, 16) : -1, out.getAtIndex(JAVA_INT, lane), "lane " + lane);
        }
    }

    @Test void ballotAndButterflySum() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT, 64);
            run(device(STRICT.withOrder(Order.SHUFFLED, 5)), "emu_test_vote", Dim3.of(1), Dim3.of(32), out);
            int want = 0;
            for (int l = 0; l < 32; l += 3) want |= 1 << l;
            for (int l = 0; l < 32; l++) {
                assertEquals(want, out.getAtIndex(JAVA_INT, l));
                assertEquals(496, out.getAtIndex(JAVA_INT, 32 + l));
            }
        }
    }

    @ParameterizedTest @EnumSource(Order.class)
    void threadOrdersExposeAMissingBarrier(Order order) {
        EmuDevice d = device(STRICT.withOrder(order, 42));
        int n = 256, blocks = 3;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment in = a.allocate(JAVA_INT, (long) n * blocks), out = a.allocate(JAVA_INT, (long) n * blocks);
            for (int i = 0; i < n * blocks; i++) in.setAtIndex(JAVA_INT, i, 1000 + i);
            run(d, "emu_test_reverse", Dim3.of(blocks), Dim3.of(n), out, in, 1);
            for (int b = 0; b < blocks; b++)
                for (int t = 0; t < n; t++) assertEquals(1000 + b * n + n - 1 - t, out.getAtIndex(JAVA_INT, (long) b * n + t), "with barrier");
            run(d, "emu_test_reverse", Dim3.of(blocks), Dim3.of(n), out, in, 0);
            int wrong = 0;
            for (int b = 0; b < blocks; b++)
                for (int t = 0; t < n; t++) if (out.getAtIndex(JAVA_INT, (long) b * n + t) != 1000 + b * n + n - 1 - t) wrong++;
            assertTrue(wrong > 0, order + " order did not expose the missing __syncthreads");
        }
    }

    @Test void strictBarriersNameTheKernel() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT, 128);
            EmuLibrary.EmuLaunchException e = assertThrows(EmuLibrary.EmuLaunchException.class,
                    () -> run(device(STRICT), "emu_test_partial_barrier", Dim3.of(1), Dim3.of(128), out));
            assertTrue(e.getMessage().contains("emu_test_partial_barrier") && e.getMessage().contains("only part of the block"), e.getMessage());
            Options lenient = new Options(Order.IN_ORDER, false, 1, 1, 90);
            run(device(lenient), "emu_test_partial_barrier", Dim3.of(1), Dim3.of(128), out);
            for (int t = 32; t < 128; t++) assertEquals(1, out.getAtIndex(JAVA_INT, t));
        }
    }

    @Test void launchesWhereNoThreadCanProceedFailInsteadOfHanging() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_INT, 64);
            Options lenient = new Options(Order.IN_ORDER, false, 1, 1, 90);
            EmuLibrary.EmuLaunchException e = assertThrows(EmuLibrary.EmuLaunchException.class,
                    () -> run(device(lenient), "emu_test_lonely_shuffle", Dim3.of(1), Dim3.of(32), out));
            assertTrue(e.getMessage().contains("emu_test_lonely_shuffle") && e.getMessage().contains("exited"), e.getMessage());
            e = assertThrows(EmuLibrary.EmuLaunchException.class,
                    () -> run(device(lenient), "emu_test_deadlock", Dim3.of(1), Dim3.of(32), out));
            assertTrue(e.getMessage().contains("no thread can make progress") && e.getMessage().contains("__shfl_sync"), e.getMessage());
            e = assertThrows(EmuLibrary.EmuLaunchException.class,
                    () -> run(device(STRICT), "emu_test_vote", Dim3.of(1), Dim3.of(2000), out));
            assertTrue(e.getMessage().contains("CUDA_ERROR_INVALID_VALUE"), e.getMessage());
            e = assertThrows(EmuLibrary.EmuLaunchException.class, () -> run(device(STRICT), "no_such_kernel", Dim3.of(1), Dim3.of(1)));
            assertTrue(e.getMessage().contains("no kernel no_such_kernel"), e.getMessage());
        }
    }

    private static short bf16(float v) { return BFloat16.fromFloat(v); }

    @ParameterizedTest @EnumSource(Order.class)
    void tensorCoreFragmentsMatchAPlainGemm(Order order) {
        int M = 32, N = 24, K = 48;
        Random rnd = new Random(3);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment A = a.allocate(JAVA_SHORT, (long) M * K), Bt = a.allocate(JAVA_SHORT, (long) N * K), D = a.allocate(JAVA_FLOAT, (long) M * N);
            double[] av = new double[M * K], bv = new double[N * K];
            for (int i = 0; i < av.length; i++) { short s = bf16((float) rnd.nextGaussian()); A.setAtIndex(JAVA_SHORT, i, s); av[i] = BFloat16.toFloat(s); }
            for (int i = 0; i < bv.length; i++) { short s = bf16((float) rnd.nextGaussian()); Bt.setAtIndex(JAVA_SHORT, i, s); bv[i] = BFloat16.toFloat(s); }
            for (int i = 0; i < M * N; i++) D.setAtIndex(JAVA_FLOAT, i, Float.NaN);
            run(device(STRICT.withOrder(order, 9)), "emu_test_mma_gemm", Dim3.of(N / 8, M / 16), Dim3.of(32), D, A, Bt, M, N, K);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int l = 0; l < K; l++) s += av[i * K + l] * bv[j * K + l];
                    assertEquals(s, D.getAtIndex(JAVA_FLOAT, (long) i * N + j), 1e-5 * (Math.abs(s) + 1), "d[" + i + "," + j + "]");
                }
        }
    }

    @Test void ldmatrixTransposedFragments() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment tile = a.allocate(JAVA_SHORT, 256), out = a.allocate(JAVA_INT, 128);
            for (int i = 0; i < 256; i++) tile.setAtIndex(JAVA_SHORT, i, (short) i);   // element (r, c) holds 16r + c
            run(device(STRICT), "emu_test_ldmatrix_trans", Dim3.of(1), Dim3.of(32), out, tile);
            for (int lane = 0; lane < 32; lane++)
                for (int m = 0; m < 4; m++) {
                    int r0 = (m & 1) * 8, c0 = (m >> 1) * 8;
                    int row = (lane % 4) * 2, col = lane / 4;
                    int lo = 16 * (r0 + row) + c0 + col, hi = 16 * (r0 + row + 1) + c0 + col;
                    assertEquals(lo | (hi << 16), out.getAtIndex(JAVA_INT, lane * 4 + m), "lane " + lane + " matrix " + m);
                }
        }
    }
}
