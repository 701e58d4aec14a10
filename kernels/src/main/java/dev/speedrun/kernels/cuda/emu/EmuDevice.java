package dev.speedrun.kernels.cuda.emu;

import static java.lang.foreign.ValueLayout.ADDRESS;

import dev.speedrun.kernels.cuda.CublasLt;
import dev.speedrun.kernels.cuda.CublasLtGemm;
import dev.speedrun.kernels.cuda.CudaDevice;
import dev.speedrun.kernels.cuda.DeviceObserver;
import dev.speedrun.kernels.cuda.Gemm;
import dev.speedrun.kernels.cuda.Kernel;
import dev.speedrun.kernels.cuda.KernelArgs;
import dev.speedrun.kernels.cuda.LaunchQueue;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Shape;
import dev.speedrun.tensor.Storage;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A CUDA device emulated on the CPU: the very kernels of src/main/cuda (compiled by g++ into
 * {@link EmuLibrary}) launched through {@code emu_launch} with the argument packing of the GPU
 * device ({@link KernelArgs}), memory of {@link EmuBackend}, and cuBLASLt's reference
 * implementation from the same library driven by the unchanged {@link CublasLtGemm}. Launches run
 * synchronously (the stream is always idle afterwards). Reports compute capability 9.0 unless
 * {@link Options#computeCapability} says otherwise, so the Hopper paths (FP8) run.
 *
 * <p>CUDA graphs run through the same {@link LaunchQueue} as on a GPU: a region's launches are
 * recorded, every other call (the backend's copies, allocation, scratch growth, synchronize, the
 * test launches by name) flushes first, and a "graph" is the recorded segment itself, replayed by
 * re-running its launches through {@code emu_launch} (so {@code emu_launch_count} sees them run).
 */
public final class EmuDevice implements CudaDevice, AutoCloseable {
    /** Order in which the threads of a block (and the blocks) are first run and woken. */
    public enum Order { IN_ORDER, REVERSED, SHUFFLED }

    /**
     * How the emulator schedules.
     *
     * @param order             thread order (REVERSED / SHUFFLED find missing barriers)
     * @param strictBarriers    a __syncthreads reached by only part of a block is an error
     * @param seed              seed of the SHUFFLED order
     * @param workers           threads running blocks concurrently
     * @param computeCapability reported compute capability (major·10 + minor)
     */
    public record Options(Order order, boolean strictBarriers, long seed, int workers, int computeCapability) {
        public static final Options DEFAULT = new Options(Order.IN_ORDER, true, 1, Math.min(4, Runtime.getRuntime().availableProcessors()), 90);

        /**
         * From system properties {@code speedrun.cuda.emu.order} (in_order | reversed | shuffled),
         * {@code .strict} (true), {@code .seed}, {@code .workers} and {@code .cc} (90).
         */
        public static Options fromSystemProperties() {
            return new Options(Order.valueOf(System.getProperty("speedrun.cuda.emu.order", "in_order").toUpperCase(Locale.ROOT)),
                    Boolean.parseBoolean(System.getProperty("speedrun.cuda.emu.strict", "true")),
                    Long.getLong("speedrun.cuda.emu.seed", 1), Integer.getInteger("speedrun.cuda.emu.workers", DEFAULT.workers()),
                    Integer.getInteger("speedrun.cuda.emu.cc", 90));
        }

        public Options withOrder(Order o, long s) { return new Options(o, strictBarriers, s, workers, computeCapability); }

        public Options withComputeCapability(int cc) { return new Options(order, strictBarriers, seed, workers, cc); }
    }

    /** cuBLASLt workspace handed to the reference implementation (it uses none). */
    static final long WORKSPACE_BYTES = 1 << 20;

    private final EmuBackend backend;
    private final EmuLibrary lib;
    private final Options options;
    private final Map<Integer, Tensor> scratch = new HashMap<>();
    private final Map<Integer, Storage> scratchStorage = new HashMap<>();
    private Gemm gemm;
    private boolean gemmTried;
    private Storage workspace;
    /** Per kernel: its parameter block and C name, made once (a launch allocates nothing). */
    private final Map<Kernel, KernelArgs.Slots> slots = new EnumMap<>(Kernel.class);
    private final Map<Kernel, MemorySegment> cNames = new EnumMap<>(Kernel.class);
    private final Arena slotArena = Arena.ofShared();
    private volatile DeviceObserver observer;
    private final LaunchQueue queue = new LaunchQueue(new EmuGraphs(), LaunchQueue.enabledByDefault());

    public EmuDevice(EmuBackend backend, Options options) { this(backend, EmuLibrary.main(), options); }

    /** A device running the kernels of {@code lib} (tests use a library of test kernels). */
    public EmuDevice(EmuBackend backend, EmuLibrary lib, Options options) {
        this.backend = backend;
        this.lib = lib;
        this.options = options;
        backend.attach(this);
    }

    public Options options() { return options; }

    public EmuLibrary library() { return lib; }

    @Override public EmuBackend backend() { return backend; }

    @Override public int computeCapability() { return options.computeCapability(); }

    @Override public String name() { return "cuda-emu (emulated sm_" + options.computeCapability() + ")"; }

    @Override public void observe(DeviceObserver o) {
        observer = o;
        queue.observe(o);
        backend.observe(o);
        synchronized (this) {
            if (gemm instanceof CublasLtGemm g) g.observe(o);
        }
    }

    @Override public void launch(Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        KernelArgs.Slots sl;
        MemorySegment cName;
        synchronized (slots) {
            sl = slots.get(kernel);
            if (sl == null) {
                sl = new KernelArgs.Slots(kernel, slotArena);
                slots.put(kernel, sl);
                cNames.put(kernel, slotArena.allocateFrom(kernel.cName()));
            }
            cName = cNames.get(kernel);
        }
        sl.write(args);
        DeviceObserver o = observer;
        if (o != null) o.launch(kernel, grid, block, args);
        if (queue.kernel(kernel, grid, block, sharedBytes, sl.values())) return;   // recorded in a region
        lib.launch(cName, kernel.cName(), grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(), sharedBytes, sl.pointers(), options);
    }

    /** Launches the kernel registered as {@code name} with the argument kinds of {@code signature} (tests of kernels outside the table). */
    public void launch(String name, Kernel signature, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        flush();   // not recordable (outside the kernel table): what a region queued runs first
        try (Arena a = Arena.ofConfined()) {
            KernelArgs.Slots sl = new KernelArgs.Slots(signature, a);
            sl.write(args);
            lib.launch(name, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(), sharedBytes, sl.pointers(), options);
        }
    }

    /** Launches {@code name} with already packed values (tests of kernels outside the table). */
    public void launchRaw(String name, Dim3 grid, Dim3 block, int sharedBytes, List<MemorySegment> values, Arena a) {
        flush();
        MemorySegment params = a.allocate(ADDRESS, Math.max(1, values.size()));
        for (int i = 0; i < values.size(); i++) params.setAtIndex(ADDRESS, i, values.get(i));
        lib.launch(name, grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(), sharedBytes, params, options);
    }

    @Override public synchronized Tensor scratch(int slot, long floats) {
        Tensor t = scratch.get(slot);
        if (t == null || t.numel() < floats) {
            flush();   // queued launches may still name the old buffer
            Storage old = scratchStorage.remove(slot);
            if (old != null) backend.free(old);
            long n = Math.max(floats, 1024);
            Storage s = backend.allocate(n * 4);
            scratchStorage.put(slot, s);
            t = new Tensor(s, DType.F32, 0, Shape.of(n));
            scratch.put(slot, t);
        }
        return t;
    }

    /**
     * cuBLASLt's reference implementation in the emulated library, through the same
     * {@link CublasLtGemm} as on a GPU; null (kernel GEMM) with {@code -Dspeedrun.cuda.gemm=kernel}.
     */
    @Override public synchronized Gemm gemm() {
        if (!gemmTried) {
            gemmTried = true;
            if (!"kernel".equals(System.getProperty("speedrun.cuda.gemm")) && lib.has("cublasLtMatmul")) {
                lib.setCublasLtComputeCapability(computeCapability());
                workspace = backend.allocate(WORKSPACE_BYTES);
                CublasLtGemm g = new CublasLtGemm(CublasLt.bind(lib.loaded()), 0, workspace.address(), WORKSPACE_BYTES, computeCapability());
                g.observe(observer);
                g.deferTo(queue);
                gemm = g;
            }
        }
        return gemm;
    }

    /** Launches run synchronously, so there is nothing to wait for; counted as the host sync it is on a GPU. */
    @Override public void synchronize() {
        flush();
        DeviceObserver o = observer;
        if (o != null) o.hostSync(DeviceObserver.HostSync.STREAM_SYNCHRONIZE);
    }

    @Override public void flush() { queue.flush(); }

    @Override public void replayable(Runnable work) { queue.replayable(work); }

    @Override public LaunchQueue.Stats graphStats() { return queue.stats(); }

    /** This device's launch queue (tests switch graphs per device with {@link LaunchQueue#setEnabled}). */
    public LaunchQueue launchQueue() { return queue; }

    /**
     * The emulator's side of {@link LaunchQueue}: a recorded launch written back into the kernel's
     * parameter block and run by emu_launch; a graph is the queue's frozen copy of the segment,
     * "captured" without running anything and replayed by sending its launches again.
     */
    private final class EmuGraphs implements LaunchQueue.Driver {
        @Override public void launchNow(Kernel kernel, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                                        byte[] buf, int off, int len) {
            KernelArgs.Slots sl;
            MemorySegment cName;
            synchronized (slots) {
                sl = slots.get(kernel);   // made by the launch that recorded it
                cName = cNames.get(kernel);
            }
            MemorySegment.copy(buf, off, sl.values(), java.lang.foreign.ValueLayout.JAVA_BYTE, 0, len);
            lib.launch(cName, kernel.cName(), gx, gy, gz, bx, by, bz, sharedBytes, sl.pointers(), options);
        }

        @Override public LaunchQueue.Graph capture(Runnable issue) {
            return new LaunchQueue.Graph() {
                @Override public void launch() { issue.run(); }

                @Override public void destroy() {}
            };
        }
    }

    @Override public synchronized void close() {
        queue.close();
        backend.detach(this);
        if (gemm instanceof CublasLtGemm g) g.close();
        for (Storage s : scratchStorage.values()) backend.free(s);
        scratchStorage.clear();
        scratch.clear();
        if (workspace != null) backend.free(workspace);
        workspace = null;
        slotArena.close();
    }
}
