package dev.speedrun.kernels.cuda.emu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.speedrun.kernels.cuda.CudaDevice;
import dev.speedrun.kernels.cuda.CudaOps;
import dev.speedrun.kernels.cuda.Kernel;
import dev.speedrun.kernels.cuda.LaunchQueue;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Storage;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.TinyModelFixture;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * CUDA graphs on the emulated device ({@link LaunchQueue}): a program that interleaves kernel
 * launches, cuBLASLt GEMMs (F32 and FP8), scratch use, asynchronous and synchronous uploads, a
 * device-to-device copy and host reads inside one replayable region gives, run after run on new
 * data, exactly the results of the same program on a device without graphs; after two sightings
 * its segments are replayed (and the emulator really ran their kernels again); a changed scalar is a
 * miss with the eager result; the LRU evicts; regions nest; a throwing region still sends its work.
 * Every call of the Backend and CudaDevice interfaces is classified as recording, flushing or not
 * touching the stream, so a new path to the stream fails here until it is classified and flushes.
 * Sizes come from the tiny model fixture (T tokens, width C, padded vocabulary V).
 */
class LaunchQueueEmuTest {
    private static final TinyModelFixture FX = TinyModelFixture.read();
    private static final int T = FX.tokens().length, C = FX.config().get("model_dim").asInt(), V = FX.vocabPadded();

    private static void requireEmu() {
        String why = EmuLibrary.problem(EmuLibrary.MAIN);
        assumeTrue(why.isEmpty(), why);
    }

    /** One emulated device, its ops and the program's buffers. */
    private static final class Env implements AutoCloseable {
        final EmuBackend backend = new EmuBackend();
        final EmuDevice device = new EmuDevice(backend, EmuDevice.Options.DEFAULT);
        final CudaOps ops = new CudaOps(device);
        final MemoryArena arena = backend.newArena();
        final Tensor tokens = arena.allocate(DType.I32, T), table = arena.allocate(DType.F32, V, C), x = arena.allocate(DType.F32, T, C),
                xn = arena.allocate(DType.F32, T, C), rrms = arena.allocate(DType.F32, T), logits = arena.allocate(DType.F32, T, V),
                saved = arena.allocate(DType.F32, T, V), s = arena.allocate(DType.F32, 1), y = arena.allocate(DType.F32, T, C),
                scales = arena.allocate(DType.F32, 2), head = arena.allocate(DType.BF16, T, V), out = arena.allocate(DType.F32, T, C);
        final MemorySegment host = Arena.ofAuto().allocate((long) V * C * 4, 16);

        Env(boolean graphs) { device.launchQueue().setEnabled(graphs); }

        /** Writes NaN into every output, so a replay that ran nothing shows. */
        void poison() {
            for (Tensor t : List.of(x, xn, rrms, logits, saved, s, y, head, out)) {
                double[] nan = new double[(int) t.numel()];
                Arrays.fill(nan, Double.NaN);
                HostData.write(t, nan);
            }
        }

        @Override public void close() {
            arena.close();
            device.close();
        }
    }

    /**
     * The program: every kind of stream call between launches. {@code seed} draws the data (uploaded
     * inside the region), {@code alpha} is a kernel/GEMM scalar. Returns every output read back.
     */
    private static double[] program(Env e, long seed, double alpha) {
        SplittableRandom r = new SplittableRandom(seed);
        List<double[]> parts = new ArrayList<>();
        e.backend.replayable(() -> {
            for (int i = 0; i < T; i++) e.host.setAtIndex(ValueLayout.JAVA_INT, i, r.nextInt(V));
            e.backend.copyFromHostAsync(e.tokens, e.host);
            e.ops.embedding(e.x, e.table, e.tokens);
            e.ops.rmsNorm(e.xn, e.rrms, e.x);
            e.ops.matmul(e.logits, e.xn, e.table, false, true, alpha, 0);   // cuBLASLt F32
            e.ops.sumSquares(e.s, e.logits, false);                         // two passes through scratch
            e.backend.copy(e.saved, e.logits);
            double mid = HostData.scalar(e.s);                              // a host read in the middle
            e.ops.fill(e.y, mid / (T * V));
            for (int i = 0; i < 2; i++) e.host.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (0.5 + r.nextDouble()));
            e.backend.copyFromHost(e.scales, e.host);                       // a synchronous upload
            e.ops.matmulFp8(e.head, e.xn, DType.FP8_E4M3, e.scales.view(0, 1), e.table, DType.FP8_E4M3, e.scales.view(1, 1),
                    false, true, 0);                                        // quantize + cuBLASLt FP8
            e.ops.matmul(e.out, e.head, e.table, false, false, 1, 0);       // BF16 · F32: the kernel GEMM
            e.ops.mix(e.y, e.y, e.s, alpha, e.x, e.s, 1);
        });
        for (Tensor t : List.of(e.x, e.xn, e.rrms, e.logits, e.saved, e.s, e.y, e.head, e.out)) parts.add(HostData.toDoubles(t));
        int n = 0;
        for (double[] p : parts) n += p.length;
        double[] all = new double[n];
        int o = 0;
        for (double[] p : parts) {
            System.arraycopy(p, 0, all, o, p.length);
            o += p.length;
        }
        return all;
    }

    private static void fillTable(Env e) {
        SplittableRandom r = new SplittableRandom(5);
        double[] w = new double[V * C];
        for (int i = 0; i < w.length; i++) w[i] = r.nextDouble(-1, 1);
        HostData.write(e.table, w);
    }

    private static long emuLaunches(EmuLibrary lib) {
        long n = 0;
        for (Kernel k : Kernel.values()) n += lib.launchCount(k.cName());
        return n + Math.round(lib.cublasLtCounts()[0]);
    }

    @Test void replaysGiveTheEagerResultsAndAChangedScalarIsAMiss() {
        requireEmu();
        EmuLibrary lib = EmuLibrary.main();
        try (Env g = new Env(true); Env ref = new Env(false)) {
            fillTable(g);
            fillTable(ref);
            // a first run grows the scratch slots: an allocation flushes, so that run's segments are
            // split where it happened (realistic warm-up); the runs below see the steady-state segments
            program(g, 99, 0.75);
            program(ref, 99, 0.75);
            LaunchQueue.Stats s0 = g.device.graphStats();
            long eager = s0.eagerLaunches(), captured = s0.graphCaptures(), launched = s0.graphLaunches();
            for (int run = 0; run < 4; run++) {
                g.poison();
                ref.poison();
                long before = emuLaunches(lib);
                double[] got = program(g, 100 + run, 0.75);
                long ran = emuLaunches(lib) - before;
                double[] want = program(ref, 100 + run, 0.75);
                long ranRef = emuLaunches(lib) - before - ran;
                assertArrayEquals(want, got, "run " + run + ": graphs against eager");
                assertEquals(ranRef, ran, "run " + run + ": the emulator ran as many kernels and GEMMs with graphs");
                LaunchQueue.Stats st = g.device.graphStats();
                assertTrue(st.eagerLaunches() > eager, "run " + run + ": the fill of a value read back this run is new, never replayed");
                eager = st.eagerLaunches();
                if (run >= 2) {   // every segment has been seen twice by now
                    assertEquals(captured, st.graphCaptures(), "run " + run + ": nothing new to capture");
                    assertTrue(captured > s0.graphCaptures(), "the program's segments between flushes were captured");
                    assertEquals(st.graphCaptures(), st.cached(), "run " + run + ": every capture cached (fewer than the LRU holds)");
                    assertEquals(st.cached(), st.graphLaunches() - launched, "run " + run + ": every captured segment replayed once");
                }
                captured = st.graphCaptures();
                launched = st.graphLaunches();
            }
            // a changed scalar: its segments are new, run eagerly, with the new value's result
            LaunchQueue.Stats before = g.device.graphStats();
            g.poison();
            ref.poison();
            assertArrayEquals(program(ref, 7, -1.25), program(g, 7, -1.25), "changed alpha against eager");
            LaunchQueue.Stats after = g.device.graphStats();
            assertTrue(after.eagerLaunches() > before.eagerLaunches(), "the changed segments ran eagerly");
            assertEquals(before.graphLaunches(), after.graphLaunches(), "every captured segment of the program carries alpha: none replayed");
        }
    }

    @Test void theLruEvictsAndAnEvictedSegmentRunsEagerlyAgain() {
        requireEmu();
        try (Env e = new Env(true)) {
            LaunchQueue q = e.device.launchQueue();
            Consumer<Integer> seg = i -> {
                e.backend.replayable(() -> e.ops.fill(e.y, i));
                double[] want = new double[T * C];
                Arrays.fill(want, i);
                assertArrayEquals(want, HostData.toDoubles(e.y), "segment " + i);
            };
            seg.accept(0);
            assertEquals(0, q.stats().graphLaunches(), "a first sighting runs eagerly");
            assertEquals(1, q.stats().eagerLaunches());
            seg.accept(0);
            assertEquals(1, q.stats().graphCaptures(), "the second is captured");
            assertEquals(1, q.stats().graphLaunches(), "and launched");
            for (int i = 1; i <= LaunchQueue.GRAPHS; i++) {
                seg.accept(i);
                seg.accept(i);
            }
            LaunchQueue.Stats st = q.stats();
            assertEquals(LaunchQueue.GRAPHS + 1, st.graphCaptures());
            assertEquals(1, st.evictions(), "one more graph than the cache holds");
            assertEquals(LaunchQueue.GRAPHS, st.cached());
            seg.accept(0);   // the eldest, evicted: a first sighting again (its capture forgot the earlier one)
            LaunchQueue.Stats st2 = q.stats();
            assertEquals(st.graphLaunches(), st2.graphLaunches(), "the evicted segment is not replayed");
            assertEquals(st.eagerLaunches() + 1, st2.eagerLaunches());
            seg.accept(LaunchQueue.GRAPHS);   // the newest is still cached
            assertEquals(st2.graphLaunches() + 1, q.stats().graphLaunches());
        }
    }

    @Test void regionsNestAndAThrowingRegionStillSendsItsWork() {
        requireEmu();
        try (Env e = new Env(true)) {
            LaunchQueue q = e.device.launchQueue();
            e.backend.replayable(() -> {
                e.ops.fill(e.y, 2);
                e.backend.replayable(() -> e.ops.fill(e.out, 3));
                assertEquals(2, q.pending(), "the inner region joined the outer one: nothing sent at its end");
                assertTrue(q.recording());
            });
            assertEquals(0, q.pending());
            assertFalse(q.recording());
            assertEquals(2.0, HostData.toDoubles(e.y)[0]);
            assertEquals(3.0, HostData.toDoubles(e.out)[0]);
            IllegalStateException boom = new IllegalStateException("work failed");
            assertSame(boom, assertThrows(IllegalStateException.class, () -> e.backend.replayable(() -> {
                e.ops.fill(e.y, 4);
                throw boom;
            })));
            assertEquals(0, q.pending());
            assertEquals(4.0, HostData.toDoubles(e.y)[0], "the work queued before the exception ran");
            assertThrows(IllegalStateException.class, () -> e.backend.replayable(() -> q.setEnabled(false)), "no switching inside a region");
            q.setEnabled(false);
            e.backend.replayable(() -> {
                e.ops.fill(e.y, 5);
                assertEquals(0, q.pending(), "graphs off: launches go out at once");
            });
        }
    }

    /** How a call of the Backend or CudaDevice interface relates to the launch queue. */
    private enum Role { FLUSHES, NO_STREAM, REGION }

    /** Every method of the two interfaces; a new one fails {@link #everyStreamCallFlushes} until it is listed here. */
    private static final Map<String, Role> ROLES = Map.ofEntries(
            Map.entry("Backend.name", Role.NO_STREAM), Map.entry("Backend.isAvailable", Role.NO_STREAM),
            Map.entry("Backend.unavailableReason", Role.NO_STREAM), Map.entry("Backend.newArena", Role.NO_STREAM),
            Map.entry("Backend.allocate", Role.FLUSHES), Map.entry("Backend.free", Role.FLUSHES),
            Map.entry("Backend.copyFromHost", Role.FLUSHES), Map.entry("Backend.copyFromHostAsync", Role.FLUSHES),
            Map.entry("Backend.copyToHost", Role.FLUSHES), Map.entry("Backend.copy", Role.FLUSHES),
            // makes the uploads' stream object only; its copies and events flush (JCudaDevice's copyFromHostAsync on
            // the copy lane, recordEvent, waitEvent; on the emulator and the CPU the in-order path's copyFromHostAsync)
            Map.entry("Backend.newUploadStream", Role.NO_STREAM),
            Map.entry("Backend.synchronize", Role.FLUSHES), Map.entry("Backend.replayable", Role.REGION),
            Map.entry("CudaDevice.backend", Role.NO_STREAM), Map.entry("CudaDevice.computeCapability", Role.NO_STREAM),
            Map.entry("CudaDevice.launch", Role.REGION), Map.entry("CudaDevice.scratch", Role.FLUSHES),
            Map.entry("CudaDevice.gemm", Role.NO_STREAM), Map.entry("CudaDevice.synchronize", Role.FLUSHES),
            Map.entry("CudaDevice.name", Role.NO_STREAM), Map.entry("CudaDevice.observe", Role.NO_STREAM),
            Map.entry("CudaDevice.flush", Role.FLUSHES), Map.entry("CudaDevice.replayable", Role.REGION),
            Map.entry("CudaDevice.graphStats", Role.NO_STREAM));

    @Test void everyStreamCallFlushes() {
        requireEmu();
        Set<String> methods = new TreeSet<>();
        for (Class<?> c : List.of(Backend.class, CudaDevice.class))
            for (Method m : c.getDeclaredMethods())
                if (!Modifier.isStatic(m.getModifiers())) methods.add(c.getSimpleName() + "." + m.getName());
        Set<String> unlisted = new TreeSet<>(methods);
        unlisted.removeAll(ROLES.keySet());
        assertTrue(unlisted.isEmpty(), "new calls " + unlisted + ": say here whether they reach the stream, and make those flush first");

        try (Env e = new Env(true)) {
            LaunchQueue q = e.device.launchQueue();
            MemorySegment host = Arena.ofAuto().allocate(e.y.byteSize(), 16);
            List<Storage> made = new ArrayList<>();
            Map<String, Runnable> calls = Map.of(
                    "Backend.allocate", () -> made.add(e.backend.allocate(64)),
                    "Backend.copyFromHost", () -> e.backend.copyFromHost(e.y, host),
                    "Backend.copyFromHostAsync", () -> e.backend.copyFromHostAsync(e.y, host),
                    "Backend.copyToHost", () -> e.backend.copyToHost(host, e.y),
                    "Backend.copy", () -> e.backend.copy(e.out, e.y),
                    "Backend.synchronize", e.backend::synchronize,
                    "CudaDevice.scratch", () -> e.device.scratch(60, 1 << 12),   // a new slot: allocates
                    "CudaDevice.synchronize", e.device::synchronize,
                    "CudaDevice.flush", e.device::flush,
                    "EmuDevice.launchRaw", () -> e.device.launchRaw("fill", CudaDevice.Dim3.of(1), CudaDevice.Dim3.of(32), 0,
                            fillValues(e.y), Arena.ofAuto()));
            Storage spare = e.backend.allocate(64);
            for (var c : new TreeSet<>(calls.keySet())) {
                e.backend.replayable(() -> {
                    e.ops.fill(e.y, 1);
                    assertEquals(1, q.pending(), c + ": the launch before it is queued");
                    calls.get(c).run();
                    assertEquals(0, q.pending(), c + " reaches the stream, so it must send the queued launch first");
                });
            }
            e.backend.replayable(() -> {
                e.ops.fill(e.y, 1);
                e.backend.free(spare);
                assertEquals(0, q.pending(), "Backend.free: queued launches may still read the memory");
            });
            for (Storage m : made) e.backend.free(m);
            e.backend.replayable(() -> {
                e.device.scratch(60, 1 << 12);
                e.ops.fill(e.y, 1);
                e.device.scratch(60, 1 << 12);
                assertEquals(1, q.pending(), "scratch that need not grow touches nothing");
            });
            for (String m : methods)
                if (ROLES.get(m) == Role.FLUSHES && !m.equals("Backend.free"))
                    assertTrue(calls.containsKey(m), m + " is said to flush but is not checked here");
        }
    }

    /** fill's packed parameters (out, dtype, value, n) for the raw launch path. */
    private static List<MemorySegment> fillValues(Tensor t) {
        Arena a = Arena.ofAuto();
        List<MemorySegment> v = new ArrayList<>();
        for (Kernel.Arg k : Kernel.FILL.params()) v.add(a.allocate(8, 8));
        v.get(0).set(ValueLayout.JAVA_LONG, 0, t.address());
        v.get(1).set(ValueLayout.JAVA_INT, 0, 0);   // F32
        v.get(2).set(ValueLayout.JAVA_LONG, 0, t.numel());
        v.get(3).set(ValueLayout.JAVA_FLOAT, 0, 1f);
        return v;
    }
}
