package dev.speedrun.kernels.cuda;

import static java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * CUDA graphs that can never replay stale work (docs/cuda.md, "CUDA graphs"). Inside a
 * {@linkplain #replayable region} a device's kernel launches and cuBLASLt GEMMs are not sent to the
 * driver: their full identity — kernel, grid, block, shared bytes and every byte of the parameter
 * block (each pointer and scalar); for a GEMM its prepared plan, pointers, scale pointers, alpha and
 * beta — is appended to this queue as bytes. Every other call that reaches the device's stream
 * (copies, memsets, allocation, scratch growth, events, NCCL, synchronize, host reads) first calls
 * {@link #flush}: the queued segment is compared, byte for byte, with the segments seen before.
 * <ul>
 *   <li>an exact match with a cached graph: the graph is launched (one driver call);</li>
 *   <li>a segment seen once before: it is captured as a graph (on a GPU cuStreamBeginCapture, the
 *       launches, cuStreamEndCapture, cuGraphInstantiate), cached and launched;</li>
 *   <li>otherwise the launches are sent one by one, as without a region, and the segment is
 *       remembered.</li>
 * </ul>
 * So only an identical launch sequence is ever replayed: a changed window, MTP weight or pointer
 * is a different segment and runs eagerly. Capturing only on the second sighting keeps one-off
 * segments (a changed scalar every step) at the eager cost instead of paying an instantiation, and
 * means every kernel and cuBLASLt algorithm has run once before it is captured (lazy module
 * loading never happens under capture).
 *
 * <p>Graphs are kept in an LRU of {@value #GRAPHS} per device: the trainer needs two per micro-batch
 * shape (the first micro-step of a step refreshes the BF16 working copies, the later ones do not),
 * and the record's window stages and the extension add a few more. On several ranks every
 * collective the gradient hook starts in the last backward flushes, so that micro-step is one
 * segment per started collective (about 12 on a step where Adam updates, 4 where only NorMuon
 * does, each a different segment): 16 or more live segments, and a cyclic pass over more segments
 * than the LRU holds misses every time (each segment alternately eager and re-captured). 64
 * holds them with room to spare while bounding the device memory instantiated graphs hold (an
 * ~800-node graph holds on the order of a megabyte; the hook's segments are smaller). Segments seen once are remembered in an LRU of {@value #SEEN}
 * (bytes only, ~100 KB each at the record's structure: the size does not depend on tensor sizes).
 *
 * <p>Regions nest: an inner region joins the outer one, and only the outermost end flushes. A
 * region belongs to the device, not to a thread (a device is driven by one thread; work queued by
 * another thread during a region is recorded too). When the work throws, the queued part is still
 * sent (the device state is what eager execution would have left) and the exception propagates.
 * Graphs are off with {@code -D}{@value #PROPERTY}{@code =false} or {@value #ENV}{@code =0}, and
 * with {@code -Dspeedrun.cuda.sync=true} (a synchronize after each launch, to name a faulting kernel).
 */
public final class LaunchQueue implements AutoCloseable {
    public static final String PROPERTY = "speedrun.cuda.graphs";
    public static final String ENV = "SPEEDRUN_CUDA_GRAPHS";
    /** Instantiated graphs kept per device (see the class comment). */
    public static final int GRAPHS = 64;
    /** Segments seen once remembered per device. */
    public static final int SEEN = 128;

    /** How a device sends work the queue hands back. */
    public interface Driver {
        /**
         * Sends one launch of {@code kernel} now, its parameter block ({@link KernelArgs.Slots}'
         * value layout) being bytes {@code [off, off + len)} of {@code buf}.
         */
        void launchNow(Kernel kernel, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, byte[] buf, int off, int len);

        /** Makes a graph of the work {@code issue} sends, without running it; {@link Graph#launch} runs it. */
        Graph capture(Runnable issue);
    }

    /** An instantiated graph. */
    public interface Graph {
        void launch();

        void destroy();
    }

    /** Sends a recorded GEMM ({@link CublasLtGemm}). */
    public interface GemmDriver {
        void gemmNow(int plan, long a, long b, long c, long aScale, long bScale, float alpha, float beta);
    }

    /**
     * Driver-level counts: graphs launched and captured, launches (kernels and GEMMs) sent one at a
     * time (inside regions on a miss, and everything outside regions), graphs evicted, launches
     * recorded in regions, graphs cached now.
     */
    public record Stats(long graphLaunches, long graphCaptures, long eagerLaunches, long evictions, long recorded, int cached) {
        public static final Stats NONE = new Stats(0, 0, 0, 0, 0, 0);
    }

    private static final int KERNEL = 1, GEMM = 2;
    private static final long SEED = 0xcbf29ce484222325L;
    private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.nativeOrder());
    private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.nativeOrder());
    private static final Kernel[] KERNELS = Kernel.values();

    private final Driver driver;
    private GemmDriver gemm;
    private volatile DeviceObserver observer;
    private boolean enabled;
    private int depth;
    /** A capture failed on this device (a driver that cannot capture some call): later segments run eagerly. */
    private boolean captureFailed;
    private byte[] buf = new byte[1 << 16];
    private int len;
    private long hash = SEED;
    private long graphLaunches, graphCaptures, eagerLaunches, evictions, recorded;
    /** The same counts over every queue of the process (tests of code that does not expose its device). */
    private static final java.util.concurrent.atomic.AtomicLongArray ALL = new java.util.concurrent.atomic.AtomicLongArray(5);

    /** A segment's bytes and hash; lookups use a key over the live buffer (no copy). */
    private record Key(byte[] bytes, int len, long hash) {
        @Override public boolean equals(Object o) {
            return o instanceof Key k && k.len == len && k.hash == hash && Arrays.equals(bytes, 0, len, k.bytes, 0, len);
        }

        @Override public int hashCode() { return Long.hashCode(hash); }
    }

    private final LinkedHashMap<Key, Graph> graphs = new LinkedHashMap<>(GRAPHS * 2, 0.75f, true) {
        @Override protected boolean removeEldestEntry(Map.Entry<Key, Graph> eldest) {
            if (size() <= GRAPHS) return false;
            evictions++;
            ALL.incrementAndGet(3);
            eldest.getValue().destroy();
            return true;
        }
    };
    private final LinkedHashMap<Key, Boolean> seen = new LinkedHashMap<>(SEEN * 2, 0.75f, true) {
        @Override protected boolean removeEldestEntry(Map.Entry<Key, Boolean> eldest) { return size() > SEEN; }
    };

    public LaunchQueue(Driver driver, boolean enabled) {
        this.driver = driver;
        this.enabled = enabled;
    }

    /**
     * Whether graphs are on unless a device says otherwise: {@code -D}{@value #PROPERTY} (true/false)
     * first, then {@value #ENV} (0/false/off: off), on by default.
     */
    public static boolean enabledByDefault() {
        String p = System.getProperty(PROPERTY);
        String v = p != null ? p : System.getenv(ENV);
        if (v == null || v.isBlank()) return true;
        return switch (v.strip().toLowerCase(Locale.ROOT)) {
            case "1", "true", "on", "yes" -> true;
            case "0", "false", "off", "no" -> false;
            default -> throw new IllegalArgumentException((p != null ? "-D" + PROPERTY : ENV) + "=" + v + ": expected 1/0, true/false or on/off");
        };
    }

    /** Reports driver-level calls (graph launches, captures, eager launches) to {@code o}; null: none. */
    public void observe(DeviceObserver o) { observer = o; }

    /** The GEMM whose recorded calls this queue sends. */
    public synchronized void gemmDriver(GemmDriver g) { gemm = g; }

    public synchronized boolean enabled() { return enabled; }

    /** Turns graphs on or off for later regions (not inside one). */
    public synchronized void setEnabled(boolean on) {
        if (depth > 0) throw new IllegalStateException("graphs cannot be switched inside a replayable region");
        enabled = on;
    }

    public synchronized Stats stats() {
        return new Stats(graphLaunches, graphCaptures, eagerLaunches, evictions, recorded, graphs.size());
    }

    /** {@link #stats} summed over every queue this process has made ({@code cached}: 0). */
    public static Stats processTotals() { return new Stats(ALL.get(0), ALL.get(1), ALL.get(2), ALL.get(3), ALL.get(4), 0); }

    /**
     * Runs {@code work} with this device's launches recorded (when graphs are on) and sends them at
     * the end of the outermost region or at the next other stream call (see the class comment).
     */
    public void replayable(Runnable work) {
        boolean on;
        synchronized (this) {
            on = enabled;
            if (on) depth++;
        }
        if (!on) {
            work.run();
            return;
        }
        Throwable failure = null;
        try {
            work.run();
        } catch (RuntimeException | Error e) {
            failure = e;
            throw e;
        } finally {
            boolean outermost;
            synchronized (this) { outermost = --depth == 0; }
            if (outermost) {
                try {
                    flush();
                } catch (RuntimeException e) {
                    if (failure == null) throw e;
                    failure.addSuppressed(e);
                }
            }
        }
    }

    /** Launches and GEMMs queued and not yet sent. */
    public synchronized int pending() {
        int p = 0, count = 0;
        while (p < len) {
            p += (int) INT.get(buf, p) == KERNEL ? 40 + (int) INT.get(buf, p + 36) : 56;
            count++;
        }
        return count;
    }

    /** Whether a region is open. */
    public synchronized boolean recording() { return depth > 0; }

    /**
     * Records a launch inside a region and returns true; outside one returns false (counted as an
     * eager launch): the caller sends it now. {@code values} is the kernel's written parameter block.
     */
    public synchronized boolean kernel(Kernel kernel, CudaDevice.Dim3 grid, CudaDevice.Dim3 block, int sharedBytes, MemorySegment values) {
        if (depth == 0) {
            eager(1);
            return false;
        }
        int n = Math.toIntExact(values.byteSize());
        if (n % 8 != 0) throw new IllegalStateException("parameter block of " + kernel.cName() + " is " + n + " bytes, not whole 8-byte slots");
        ensure(44 + n);
        putInt(KERNEL);
        putInt(kernel.ordinal());
        putInt(grid.x());
        putInt(grid.y());
        putInt(grid.z());
        putInt(block.x());
        putInt(block.y());
        putInt(block.z());
        putInt(sharedBytes);
        putInt(n);
        for (long o = 0; o < n; o += 8) putLong(values.get(JAVA_LONG_UNALIGNED, o));
        recorded++;
        ALL.incrementAndGet(4);
        return true;
    }

    /** As {@link #kernel} for a cuBLASLt GEMM of prepared plan {@code plan}. */
    public synchronized boolean gemm(int plan, long a, long b, long c, long aScale, long bScale, float alpha, float beta) {
        if (depth == 0) {
            eager(1);
            return false;
        }
        ensure(56);
        putInt(GEMM);
        putInt(plan);
        putLong(a);
        putLong(b);
        putLong(c);
        putLong(aScale);
        putLong(bScale);
        putInt(Float.floatToRawIntBits(alpha));
        putInt(Float.floatToRawIntBits(beta));
        recorded++;
        ALL.incrementAndGet(4);
        return true;
    }

    /**
     * Sends the queued segment: its graph when cached, a new graph when it was seen once before, its
     * launches one by one otherwise. Every path to the device's stream other than a launch or GEMM
     * calls this first.
     */
    public synchronized void flush() {
        if (len == 0) return;
        int n = len;
        Key probe = new Key(buf, n, hash);
        len = 0;
        hash = SEED;
        Graph g = graphs.get(probe);
        if (g != null) {
            launch(g);
            return;
        }
        if (seen.remove(probe) != null && !captureFailed) {
            byte[] copy = Arrays.copyOf(buf, n);
            Graph made;
            try {
                made = driver.capture(() -> issue(copy, n));
            } catch (RuntimeException e) {
                // nothing ran under the capture: say so once, stop capturing on this device, run it eagerly
                captureFailed = true;
                System.err.println("[cuda] graph capture failed, this device runs its launches without graphs from now on: " + e.getMessage());
                eager(issue(copy, n));
                return;
            }
            graphCaptures++;
            ALL.incrementAndGet(1);
            report(DeviceObserver.DriverCall.GRAPH_CAPTURE);
            graphs.put(new Key(copy, n, probe.hash()), made);
            launch(made);
            return;
        }
        seen.put(new Key(Arrays.copyOf(buf, n), n, probe.hash()), Boolean.TRUE);
        eager(issue(buf, n));
    }

    private void launch(Graph g) {
        graphLaunches++;
        ALL.incrementAndGet(0);
        report(DeviceObserver.DriverCall.GRAPH_LAUNCH);
        g.launch();
    }

    private void eager(int launches) {
        eagerLaunches += launches;
        ALL.addAndGet(2, launches);
        DeviceObserver o = observer;
        if (o != null) for (int i = 0; i < launches; i++) o.driverCall(DeviceObserver.DriverCall.EAGER_LAUNCH);
    }

    private void report(DeviceObserver.DriverCall c) {
        DeviceObserver o = observer;
        if (o != null) o.driverCall(c);
    }

    /** Sends the launches of segment bytes {@code [0, n)} of {@code b} one by one; returns how many. */
    private int issue(byte[] b, int n) {
        int p = 0, count = 0;
        while (p < n) {
            int tag = (int) INT.get(b, p);
            if (tag == KERNEL) {
                Kernel k = KERNELS[(int) INT.get(b, p + 4)];
                int size = (int) INT.get(b, p + 36);
                driver.launchNow(k, (int) INT.get(b, p + 8), (int) INT.get(b, p + 12), (int) INT.get(b, p + 16), (int) INT.get(b, p + 20),
                        (int) INT.get(b, p + 24), (int) INT.get(b, p + 28), (int) INT.get(b, p + 32), b, p + 40, size);
                p += 40 + size;
            } else if (tag == GEMM) {
                gemm.gemmNow((int) INT.get(b, p + 4), (long) LONG.get(b, p + 8), (long) LONG.get(b, p + 16), (long) LONG.get(b, p + 24),
                        (long) LONG.get(b, p + 32), (long) LONG.get(b, p + 40), Float.intBitsToFloat((int) INT.get(b, p + 48)),
                        Float.intBitsToFloat((int) INT.get(b, p + 52)));
                p += 56;
            } else {
                throw new IllegalStateException("corrupt launch queue: tag " + tag + " at byte " + p);
            }
            count++;
        }
        return count;
    }

    private void ensure(int more) {
        if (len + more > buf.length) buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + more));
    }

    private void putInt(int v) {
        INT.set(buf, len, v);
        len += 4;
        hash = (hash ^ (v & 0xffffffffL)) * 0x100000001b3L;
    }

    private void putLong(long v) {
        LONG.set(buf, len, v);
        len += 8;
        hash = (hash ^ v) * 0x100000001b3L;
        hash ^= hash >>> 29;
    }

    /** Destroys the cached graphs (the device calls this before it closes; queued work is sent first). */
    @Override public synchronized void close() {
        flush();
        for (Graph g : graphs.values()) g.destroy();
        graphs.clear();
        seen.clear();
    }
}
