package dev.speedrun.kernels.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuCtxSynchronize;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventQuery;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemsetD8;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static jcuda.driver.JCudaDriver.cuStreamWaitEvent;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Shape;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;

/**
 * One GPU through JCuda's driver API: its primary context (made current on every calling thread),
 * its streams (kernels, copies and cuBLASLt on the compute stream; NCCL on a communication stream,
 * ordered by events: {@link Lane}), the kernel modules loaded from
 * the jar's fatbins, scratch buffers, a cuBLASLt workspace and one memory arena. Every driver call
 * is checked and reported with the CUDA error name. With {@code -Dspeedrun.cuda.sync=true} each
 * launch is followed by a synchronize so an asynchronous fault names its kernel.
 *
 * <p>The hot paths allocate nothing and build no strings: a launch writes its arguments into the
 * kernel's preallocated parameter block ({@link KernelArgs.Slots}) and passes it to cuLaunchKernel
 * as is; error messages are built only on failure; the context is made current only when the
 * calling thread's current context is another one ({@link #makeCurrent}). Uploads of per-step
 * inputs ({@link #copyFromHostAsync}) go through pinned staging buffers with cuMemcpyHtoDAsync,
 * recycled by event once their copy has run, so the host never waits for them.
 *
 * <p>CUDA graphs ({@link LaunchQueue}, docs/cuda.md "CUDA graphs"): inside a {@link #replayable}
 * region launches and cuBLASLt GEMMs are queued as bytes; every other stream call here (copies,
 * memsets, allocation, scratch growth, events, synchronize, NCCL through {@link #flush}) sends the
 * queue first, replaying an identical earlier segment with one cuGraphLaunch.
 */
public final class JCudaDevice implements CudaDevice, NcclCollectives.Device, AutoCloseable {
    /** cuBLASLt workspace (the cuda-notes' 32 MB). */
    static final long WORKSPACE_BYTES = 32L << 20;
    private static final boolean SYNC_EACH_LAUNCH = Boolean.getBoolean("speedrun.cuda.sync");

    private final CudaBackend backend;
    private final int ordinal;
    private final CUcontext context = new CUcontext();
    private final Cu.Stream stream = new Cu.Stream();
    private final String name;
    private final int computeCapability;
    private final Map<String, CUmodule> modules = new HashMap<>();
    private final Map<Kernel, CUfunction> functions = new EnumMap<>(Kernel.class);
    private final Map<Integer, Tensor> scratch = new HashMap<>();
    private final Map<Integer, CudaBackend.CudaStorage> scratchStorage = new HashMap<>();
    /** Per kernel: its parameter block and the cuLaunchKernel pointer to it (made once). */
    private final Map<Kernel, KernelArgs.Slots> slots = new EnumMap<>(Kernel.class);
    private final Map<Kernel, Pointer> slotPointers = new EnumMap<>(Kernel.class);
    private final java.lang.foreign.Arena slotArena = java.lang.foreign.Arena.ofShared();
    /** The context this thread last made current through any JCudaDevice (so a launch skips cuCtxSetCurrent). */
    private static final ThreadLocal<CUcontext> CURRENT = new ThreadLocal<>();
    /** Pinned staging buffers of the asynchronous uploads: free ones, and those whose copy may still run. */
    private final ArrayDeque<Staging> freeStaging = new ArrayDeque<>();
    private final ArrayDeque<Staging> busyStaging = new ArrayDeque<>();
    private final List<Staging> allStaging = new ArrayList<>();
    /** Staging buffers at most; beyond, an upload waits for the oldest copy (counted as a host sync). */
    static final int MAX_STAGING = 64;
    private volatile DeviceObserver observer;
    private Gemm gemm;
    private boolean gemmTried;
    private String gemmProblem = "";
    private CudaBackend.CudaStorage workspace;
    private MemoryArena arena;
    /** Launches of replayable regions (graphs off with -Dspeedrun.cuda.sync=true: a graph would hide which kernel faulted). */
    private final LaunchQueue queue = new LaunchQueue(new GraphDriver(), !SYNC_EACH_LAUNCH && LaunchQueue.enabledByDefault());

    JCudaDevice(CudaBackend backend, int ordinal) {
        this.backend = backend;
        this.ordinal = ordinal;
        CUdevice dev = new CUdevice();
        Cu.check("cuDeviceGet(" + ordinal + ")", cuDeviceGet(dev, ordinal));
        Cu.check("cuDevicePrimaryCtxRetain", cuDevicePrimaryCtxRetain(context, dev));
        makeCurrent();
        byte[] nm = new byte[256];
        Cu.check("cuDeviceGetName", cuDeviceGetName(nm, nm.length, dev));
        int len = 0;
        while (len < nm.length && nm[len] != 0) len++;
        name = new String(nm, 0, len);
        int[] major = new int[1], minor = new int[1];
        Cu.check("cuDeviceGetAttribute(major)", cuDeviceGetAttribute(major, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev));
        Cu.check("cuDeviceGetAttribute(minor)", cuDeviceGetAttribute(minor, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev));
        computeCapability = major[0] * 10 + minor[0];
        Cu.check("cuStreamCreate", cuStreamCreate(stream, CUstream_flags.CU_STREAM_DEFAULT));
        for (String m : KernelResources.modules()) {
            CUmodule mod = new CUmodule();
            Cu.check("cuModuleLoadData(" + m + ".fatbin) on " + name + " (sm_" + computeCapability + ")",
                    cuModuleLoadData(mod, KernelResources.fatbin(m)));
            modules.put(m, mod);
        }
        for (Kernel k : Kernel.values()) {
            CUmodule mod = modules.get(k.module());
            if (mod == null) throw new IllegalStateException("kernel module " + k.module() + " is not in this build (" + KernelResources.modules() + ")");
            CUfunction f = new CUfunction();
            Cu.check("cuModuleGetFunction(" + k.cName() + ")", cuModuleGetFunction(f, mod, k.cName()));
            functions.put(k, f);
        }
    }

    /**
     * Makes this device's context current on the calling thread; a no-op when it already is
     * (every context change in this program goes through here, so the thread-local knows).
     */
    @Override public void makeCurrent() {
        if (CURRENT.get() == context) return;
        Cu.check("cuCtxSetCurrent", cuCtxSetCurrent(context));
        CURRENT.set(context);
    }

    @Override public void observe(DeviceObserver o) {
        observer = o;
        queue.observe(o);
        synchronized (this) {
            if (gemm instanceof CublasLtGemm g) g.observe(o);
        }
    }

    private void hostSync(DeviceObserver.HostSync kind) {
        DeviceObserver o = observer;
        if (o != null) o.hostSync(kind);
    }

    public int ordinal() { return ordinal; }

    @Override public String name() { return name; }

    @Override public CudaBackend backend() { return backend; }

    @Override public int computeCapability() { return computeCapability; }

    /** Raw cudaStream_t of the compute stream (for cuBLASLt; NCCL runs on {@link #commStreamHandle()}). */
    @Override public long streamHandle() { return stream.handle(); }

    // ------------------------------------------------------------------ memory

    Cu.DevPtr malloc(long bytes) {
        flush();
        makeCurrent();
        Cu.DevPtr p = new Cu.DevPtr();
        Cu.check("cuMemAlloc(" + bytes + " bytes) on " + name, cuMemAlloc(p, Math.max(bytes, 1)));
        Cu.check("cuMemsetD8", cuMemsetD8(p, (byte) 0, Math.max(bytes, 1)));
        return p;
    }

    void free(Cu.DevPtr p) {
        flush();
        makeCurrent();
        hostSync(DeviceObserver.HostSync.STREAM_SYNCHRONIZE);
        // every stream, not only the compute stream: a collective or an upload may still use p
        synchronizeStreams();
        Cu.check("cuMemFree", cuMemFree(p));
    }

    /**
     * Host wait for the compute stream, then the communication and copy streams (where made). The
     * synchronous driver calls after it (cuMemFree, cuMemcpyHtoD/DtoH on the legacy stream, which
     * waits for every blocking stream anyway) then find the device idle, so they never wait for an
     * NCCL kernel while holding the driver's memory lock: with several GPUs in one process, a rank
     * blocked that way stops a peer whose NCCL call allocates (lazy connection setup) from
     * launching the kernel this one waits for, a deadlock (NVIDIA/nccl#194; XLA's fix for
     * google/jax#11637).
     */
    private void synchronizeStreams() {
        Cu.check("cuStreamSynchronize", cuStreamSynchronize(stream));
        Cu.Stream c = commStream, k = copyStream;
        if (c != null) Cu.check("cuStreamSynchronize(communication)", cuStreamSynchronize(c));
        if (k != null) Cu.check("cuStreamSynchronize(copy)", cuStreamSynchronize(k));
    }

    void copyFromHost(Cu.DevPtr base, long offset, MemorySegment src, long bytes) {
        if (bytes == 0) return;
        flush();
        makeCurrent();
        hostSync(DeviceObserver.HostSync.COPY_FROM_HOST);
        synchronizeStreams();
        try (java.lang.foreign.Arena tmp = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment s = src.isNative() ? src.asSlice(0, bytes) : tmp.allocate(bytes, 16).copyFrom(src.asSlice(0, bytes));
            Cu.check("cuMemcpyHtoD(" + bytes + " bytes)", cuMemcpyHtoD(base.withByteOffset(offset), Pointer.to(s.asByteBuffer()), bytes));
        }
    }

    /** A pinned host buffer (cuMemHostAlloc) and the event recorded after the last copy out of it. */
    private static final class Staging {
        final Pointer host = new Pointer();
        final long capacity;
        final MemorySegment segment;
        final CUevent copied = new CUevent();

        Staging(long capacity) {
            this.capacity = capacity;
            Cu.check(cuMemHostAlloc(host, capacity, 0), () -> "cuMemHostAlloc(" + capacity + " bytes)");
            segment = MemorySegment.ofBuffer(host.getByteBuffer(0, capacity));
            Cu.check("cuEventCreate", cuEventCreate(copied, jcuda.driver.CUevent_flags.CU_EVENT_DISABLE_TIMING));
        }
    }

    /**
     * Stream-ordered upload without a host wait: src is copied into a free pinned staging buffer,
     * then cuMemcpyHtoDAsync on the device stream, then an event marks when the buffer is free
     * again. Free buffers are found with cuEventQuery (non-blocking); the pool grows to
     * {@link #MAX_STAGING} buffers (in steady state a step reuses the same few), and only past that
     * does an upload wait for the oldest copy.
     */
    void copyFromHostAsync(Cu.DevPtr base, long offset, MemorySegment src, long bytes) {
        copyFromHostAsync(base, offset, src, bytes, Lane.COMPUTE);
    }

    /**
     * As above on {@code lane}'s stream (the uploads' copy stream: {@link CopyStreamUploads}). A
     * staging buffer's event is recorded on the stream of its copy; the busy queue may then hold
     * copies of two streams, and its oldest-first scan only stops early (never frees a buffer whose
     * copy has not run).
     */
    synchronized void copyFromHostAsync(Cu.DevPtr base, long offset, MemorySegment src, long bytes, Lane lane) {
        if (bytes == 0) return;
        flush();
        makeCurrent();
        Cu.Stream on = stream(lane);
        Staging s = takeStaging(bytes);
        MemorySegment.copy(src, 0, s.segment, 0, bytes);
        Cu.check(cuMemcpyHtoDAsync(base.withByteOffset(offset), s.host, bytes, on), () -> "cuMemcpyHtoDAsync(" + bytes + " bytes)");
        Cu.check(cuEventRecord(s.copied, on), () -> "cuEventRecord");
        busyStaging.addLast(s);
    }

    private Staging takeStaging(long bytes) {
        // the copies run in queue order, so the oldest busy buffers are the first to be free
        while (!busyStaging.isEmpty()) {
            int rc = cuEventQuery(busyStaging.peekFirst().copied);
            if (rc == CUresult.CUDA_ERROR_NOT_READY) break;
            Cu.check(rc, () -> "cuEventQuery");
            freeStaging.addLast(busyStaging.pollFirst());
        }
        for (var it = freeStaging.iterator(); it.hasNext(); ) {
            Staging s = it.next();
            if (s.capacity >= bytes) {
                it.remove();
                return s;
            }
        }
        if (allStaging.size() < MAX_STAGING) {
            Staging s = new Staging(Math.max(bytes, 64 << 10));
            allStaging.add(s);
            return s;
        }
        // every buffer is in flight (or too small): wait for the oldest copy
        Staging oldest = busyStaging.pollFirst();
        if (oldest == null) {   // all free but too small: replace one with a larger buffer
            Staging small = freeStaging.pollFirst();
            allStaging.remove(small);
            destroy(small);
            Staging s = new Staging(bytes);
            allStaging.add(s);
            return s;
        }
        hostSync(DeviceObserver.HostSync.EVENT_SYNCHRONIZE);
        Cu.check(cuEventSynchronize(oldest.copied), () -> "cuEventSynchronize (staging buffer)");
        freeStaging.addLast(oldest);
        return takeStaging(bytes);
    }

    private static void destroy(Staging s) {
        Cu.check("cuEventDestroy", cuEventDestroy(s.copied));
        Cu.check("cuMemFreeHost", cuMemFreeHost(s.host));
    }

    void copyToHost(MemorySegment dst, Cu.DevPtr base, long offset, long bytes) {
        if (bytes == 0) return;
        flush();
        makeCurrent();
        hostSync(DeviceObserver.HostSync.COPY_TO_HOST);
        synchronizeStreams();
        try (java.lang.foreign.Arena tmp = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment d = dst.isNative() ? dst.asSlice(0, bytes) : tmp.allocate(bytes, 16);
            Cu.check("cuMemcpyDtoH(" + bytes + " bytes)", cuMemcpyDtoH(Pointer.to(d.asByteBuffer()), base.withByteOffset(offset), bytes));
            if (!dst.isNative()) dst.asSlice(0, bytes).copyFrom(d);
        }
    }

    void copy(Cu.DevPtr dst, long dstOffset, Cu.DevPtr src, long srcOffset, long bytes) {
        if (bytes == 0) return;
        flush();
        makeCurrent();
        Cu.check(cuMemcpyDtoDAsync(dst.withByteOffset(dstOffset), src.withByteOffset(srcOffset), bytes, stream),
                () -> "cuMemcpyDtoDAsync(" + bytes + " bytes)");
    }

    /** The device's memory arena (model buffers are sized once and allocated from it). */
    public synchronized MemoryArena arena() {
        if (arena == null) arena = new MemoryArena(backend);
        return arena;
    }

    @Override public synchronized Tensor scratch(int slot, long floats) {
        Tensor t = scratch.get(slot);
        if (t == null || t.numel() < floats) {
            flush();   // queued launches may still name the old buffer
            CudaBackend.CudaStorage old = scratchStorage.remove(slot);
            if (old != null) backend.free(old);
            long n = Math.max(floats, 1024);
            CudaBackend.CudaStorage s = (CudaBackend.CudaStorage) backend.allocate(n * 4);
            scratchStorage.put(slot, s);
            t = new Tensor(s, DType.F32, 0, Shape.of(n));
            scratch.put(slot, t);
        }
        return t;
    }

    // ------------------------------------------------------------------ launches

    @Override public void launch(Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        KernelArgs.Slots sl = slots.get(kernel);
        if (sl == null) {
            sl = new KernelArgs.Slots(kernel, slotArena);
            slots.put(kernel, sl);
            slotPointers.put(kernel, Pointer.to(sl.pointers().asByteBuffer()));
        }
        sl.write(args);
        DeviceObserver o = observer;
        if (o != null) o.launch(kernel, grid, block, args);
        if (queue.kernel(kernel, grid, block, sharedBytes, sl.values())) return;   // recorded in a region
        makeCurrent();
        int rc = cuLaunchKernel(functions.get(kernel), grid.x(), grid.y(), grid.z(), block.x(), block.y(), block.z(),
                sharedBytes, stream, slotPointers.get(kernel), null);
        Cu.check(rc, () -> "cuLaunchKernel(" + kernel.cName() + ", grid " + grid + ", block " + block + ")");
        if (SYNC_EACH_LAUNCH) Cu.check(cuStreamSynchronize(stream), () -> "kernel " + kernel.cName() + " (cuStreamSynchronize)");
    }

    @Override public void synchronize() {
        flush();
        makeCurrent();
        hostSync(DeviceObserver.HostSync.STREAM_SYNCHRONIZE);
        Cu.check("cuStreamSynchronize", cuStreamSynchronize(stream));
    }

    // ------------------------------------------------------------------ streams and events

    /** The communication stream (NCCL) and the copy stream (uploads), made on first use; see {@link Lane}. */
    private volatile Cu.Stream commStream, copyStream;
    /** Events made by {@link #createEvent}, by index; destroyed with the device. */
    private final List<CUevent> events = new ArrayList<>();

    @Override public long commStreamHandle() { return stream(Lane.COMMUNICATION).handle(); }

    private Cu.Stream stream(Lane lane) {
        return switch (lane) {
            case COMPUTE -> stream;
            case COMMUNICATION -> {
                Cu.Stream s = commStream;
                yield s != null ? s : newStream(lane);
            }
            case COPY -> {
                Cu.Stream s = copyStream;
                yield s != null ? s : newStream(lane);
            }
        };
    }

    /** Makes the stream of {@code lane} once: a blocking stream as the compute stream, so all order the same way against synchronous driver calls. */
    private synchronized Cu.Stream newStream(Lane lane) {
        Cu.Stream have = lane == Lane.COPY ? copyStream : commStream;
        if (have != null) return have;
        makeCurrent();
        Cu.Stream c = new Cu.Stream();
        Cu.check(cuStreamCreate(c, CUstream_flags.CU_STREAM_DEFAULT), () -> "cuStreamCreate(" + lane + ")");
        if (lane == Lane.COPY) copyStream = c;
        else commStream = c;
        return c;
    }

    /** An event without timing (cheaper to record and wait for), owned by the device. */
    @Override public synchronized int createEvent() {
        makeCurrent();
        CUevent e = new CUevent();
        Cu.check("cuEventCreate", cuEventCreate(e, jcuda.driver.CUevent_flags.CU_EVENT_DISABLE_TIMING));
        events.add(e);
        return events.size() - 1;
    }

    @Override public void recordEvent(int event, Lane lane) {
        flush();   // the launches a region queued come before the event (as before every stream call)
        makeCurrent();
        CUevent e;
        synchronized (this) { e = events.get(event); }
        Cu.check(cuEventRecord(e, stream(lane)), () -> "cuEventRecord(" + lane + ")");
    }

    @Override public void waitEvent(Lane lane, int event) {
        flush();
        makeCurrent();
        CUevent e;
        synchronized (this) { e = events.get(event); }
        // flags 0: CU_EVENT_WAIT_DEFAULT
        Cu.check(cuStreamWaitEvent(stream(lane), e, 0), () -> "cuStreamWaitEvent(" + lane + ")");
    }

    /** Part of {@link #close}: the events and the streams other than the compute stream, after the context is idle. */
    private void closeStreams() {
        for (CUevent e : events) Cu.check("cuEventDestroy", cuEventDestroy(e));
        events.clear();
        if (commStream != null) Cu.check("cuStreamDestroy(communication)", cuStreamDestroy(commStream));
        if (copyStream != null) Cu.check("cuStreamDestroy(copy)", cuStreamDestroy(copyStream));
        commStream = null;
        copyStream = null;
    }

    // ------------------------------------------------------------------ CUDA graphs

    /** Sends what a region queued; the context first, since a segment may start with a cuBLASLt call (which does not set it). */
    @Override public void flush() {
        makeCurrent();
        queue.flush();
    }

    @Override public void replayable(Runnable work) { queue.replayable(work); }

    @Override public LaunchQueue.Stats graphStats() { return queue.stats(); }

    /**
     * What the queue sends: a recorded launch written back into the kernel's parameter block and
     * launched, and graphs by stream capture. Capture mode THREAD_LOCAL: only this thread's
     * unsafe calls are checked, so the other ranks' threads (their own devices) go on meanwhile.
     * The CUgraph template is destroyed once instantiated (the executable graph does not need it).
     */
    private final class GraphDriver implements LaunchQueue.Driver {
        @Override public void launchNow(Kernel kernel, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                                        byte[] buf, int off, int len) {
            KernelArgs.Slots sl = slots.get(kernel);   // made by the launch that recorded it
            MemorySegment.copy(buf, off, sl.values(), java.lang.foreign.ValueLayout.JAVA_BYTE, 0, len);
            makeCurrent();
            int rc = cuLaunchKernel(functions.get(kernel), gx, gy, gz, bx, by, bz, sharedBytes, stream, slotPointers.get(kernel), null);
            Cu.check(rc, () -> "cuLaunchKernel(" + kernel.cName() + ", grid " + gx + "×" + gy + "×" + gz + ", block " + bx + "×" + by + "×" + bz + ")");
        }

        @Override public LaunchQueue.Graph capture(Runnable issue) {
            makeCurrent();
            Cu.check("cuStreamBeginCapture", cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL));
            CUgraph graph = new CUgraph();
            try {
                issue.run();
            } catch (RuntimeException | Error e) {
                // end the capture so the stream is usable again; the partial graph is dropped
                if (cuStreamEndCapture(stream, graph) == CUresult.CUDA_SUCCESS) cuGraphDestroy(graph);
                throw e;
            }
            Cu.check("cuStreamEndCapture", cuStreamEndCapture(stream, graph));
            CUgraphExec exec = new CUgraphExec();
            try {
                Cu.check("cuGraphInstantiate", cuGraphInstantiate(exec, graph, 0));
            } finally {
                Cu.check("cuGraphDestroy", cuGraphDestroy(graph));
            }
            return new LaunchQueue.Graph() {
                @Override public void launch() {
                    makeCurrent();
                    Cu.check(cuGraphLaunch(exec, stream), () -> "cuGraphLaunch");
                }

                @Override public void destroy() {
                    makeCurrent();
                    Cu.check("cuGraphExecDestroy", cuGraphExecDestroy(exec));
                }
            };
        }
    }

    // ------------------------------------------------------------------ GEMM

    @Override public synchronized Gemm gemm() {
        if (!gemmTried) {
            gemmTried = true;
            if (!"kernel".equals(System.getProperty("speedrun.cuda.gemm"))) {
                try {
                    CublasLt lt = CublasLt.load();
                    workspace = (CudaBackend.CudaStorage) backend.allocate(WORKSPACE_BYTES);
                    CublasLtGemm g = new CublasLtGemm(lt, stream.handle(), workspace.address(), WORKSPACE_BYTES, computeCapability);
                    g.observe(observer);
                    g.deferTo(queue);
                    gemm = g;
                } catch (RuntimeException e) {
                    gemmProblem = e.getMessage();
                    if ("cublaslt".equals(System.getProperty("speedrun.cuda.gemm"))) throw e;
                    System.err.println("[cuda] cuBLASLt unavailable, matmuls use the slower kernel GEMM: " + e.getMessage());
                }
            }
        }
        return gemm;
    }

    /** Why cuBLASLt is not used (empty when it is). */
    public String gemmProblem() { gemm(); return gemmProblem; }

    // ------------------------------------------------------------------ timing

    /**
     * Median milliseconds of {@code work} over {@code reps} runs after {@code warmup} runs, timed with
     * CUDA events on the device stream.
     */
    public double timeMillis(Runnable work, int warmup, int reps) {
        flush();
        makeCurrent();
        for (int i = 0; i < warmup; i++) work.run();
        CUevent start = new CUevent(), end = new CUevent();
        Cu.check("cuEventCreate", cuEventCreate(start, 0));
        Cu.check("cuEventCreate", cuEventCreate(end, 0));
        double[] ms = new double[reps];
        try {
            for (int i = 0; i < reps; i++) {
                flush();   // an event is a stream call: what a region queued goes first
                Cu.check("cuEventRecord", cuEventRecord(start, stream));
                work.run();
                flush();
                Cu.check("cuEventRecord", cuEventRecord(end, stream));
                hostSync(DeviceObserver.HostSync.EVENT_SYNCHRONIZE);
                Cu.check("cuEventSynchronize", cuEventSynchronize(end));
                float[] t = new float[1];
                Cu.check("cuEventElapsedTime", cuEventElapsedTime(t, start, end));
                ms[i] = t[0];
            }
        } finally {
            Cu.check("cuEventDestroy", cuEventDestroy(start));
            Cu.check("cuEventDestroy", cuEventDestroy(end));
        }
        Arrays.sort(ms);
        return ms[reps / 2];
    }

    @Override public synchronized void close() {
        makeCurrent();
        queue.close();   // sends what is queued, destroys the graphs
        Cu.check("cuCtxSynchronize", cuCtxSynchronize());
        if (gemm instanceof CublasLtGemm g) g.close();
        if (arena != null) arena.close();
        for (CudaBackend.CudaStorage s : scratchStorage.values()) backend.free(s);
        if (workspace != null) backend.free(workspace);
        for (Staging s : allStaging) destroy(s);
        allStaging.clear();
        slotArena.close();
        for (CUmodule m : modules.values()) Cu.check("cuModuleUnload", cuModuleUnload(m));
        closeStreams();
        Cu.check("cuStreamDestroy", cuStreamDestroy(stream));
        CUdevice dev = new CUdevice();
        Cu.check("cuDeviceGet", cuDeviceGet(dev, ordinal));
        Cu.check("cuDevicePrimaryCtxRelease", cuDevicePrimaryCtxRelease(dev));
    }
}
