package dev.speedrun.kernels.cuda;

import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Storage;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * The "cuda" backend: device memory and transfers of one GPU (ordinal from
 * {@code -Dspeedrun.cuda.device}, default 0; {@link #forDevice} for the others). Availability is
 * probed once per process and never throws: no JCuda natives, no libcuda.so.1 (no NVIDIA driver),
 * a driver older than CUDA 12, no GPU, or a build without kernels each give one sentence saying
 * what is missing.
 */
public final class CudaBackend implements Backend {
    public static final String NAME = "cuda";
    /** Oldest driver API version JCuda 12.0 runs on. */
    static final int MIN_DRIVER_VERSION = 12000;

    /** Result of the one-time probe. */
    public record Probe(boolean ok, String reason, int driverVersion, int deviceCount) {}

    private static Probe probe;
    private static final Map<Integer, JCudaDevice> DEVICES = new HashMap<>();

    private final int ordinal;
    /** The opened device, so the copies and allocations of a step do not re-probe (the probe reads a jar resource). */
    private volatile JCudaDevice device;

    /** The ServiceLoader constructor: device {@code speedrun.cuda.device} (default 0). */
    public CudaBackend() { this(Integer.getInteger("speedrun.cuda.device", 0)); }

    private CudaBackend(int ordinal) { this.ordinal = ordinal; }

    /** The backend of GPU {@code ordinal} (one thread per GPU uses its own). */
    public static CudaBackend forDevice(int ordinal) { return new CudaBackend(ordinal); }

    /** Device memory of this backend. */
    public record CudaStorage(CudaBackend backend, Cu.DevPtr ptr, long byteSize) implements Storage {
        @Override public long address() { return ptr.address(); }
    }

    /** Probes JCuda and the driver once; later calls return the remembered answer. */
    public static synchronized Probe probe() {
        if (probe == null) probe = runProbe();
        return probe;
    }

    private static Probe runProbe() {
        try {
            return DriverProbe.run();
        } catch (UnsatisfiedLinkError | NoClassDefFoundError | ExceptionInInitializerError e) {
            return new Probe(false, linkFailure(e), 0, 0);
        } catch (Throwable t) {
            return new Probe(false, "probing the CUDA driver failed: " + t, 0, 0);
        }
    }

    /**
     * One sentence from JCuda's (multi-line) link error: libcuda.so.1 missing means no NVIDIA
     * driver; anything else is JCuda's own native binding failing to load.
     */
    static String linkFailure(Throwable e) {
        StringBuilder all = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) all.append(t.getMessage() == null ? t.toString() : t.getMessage()).append('\n');
        String libcuda = null, first = null;
        for (String line : all.toString().split("\n")) {
            String l = line.trim();
            if (l.isEmpty()) continue;
            if (first == null) first = l;
            if (libcuda == null && l.contains("libcuda.so")) libcuda = l;
        }
        if (libcuda != null) {
            int i = libcuda.indexOf("libcuda.so");
            return "no NVIDIA driver: the driver library libcuda.so.1 could not be loaded (" + libcuda.substring(i) + ")";
        }
        return "JCuda's native driver binding could not be loaded (" + first + ")";
    }

    @Override public String name() { return NAME; }

    public int ordinal() { return ordinal; }

    @Override public boolean isAvailable() { return unavailableReason().isEmpty(); }

    @Override public String unavailableReason() {
        Probe p = probe();
        if (!p.ok()) return p.reason();
        if (ordinal < 0 || ordinal >= p.deviceCount())
            return "CUDA device " + ordinal + " does not exist (" + p.deviceCount() + " device(s) found)";
        return KernelResources.missingReason();
    }

    /** The device (context, stream, modules), opened on first use; throws saying what is missing. */
    public JCudaDevice device() {
        JCudaDevice d = device;
        if (d != null) return d;
        String why = unavailableReason();
        if (!why.isEmpty()) throw new IllegalStateException("CUDA backend unavailable: " + why + ". --backend cpu works on any machine.");
        synchronized (DEVICES) {
            d = DEVICES.computeIfAbsent(ordinal, o -> new JCudaDevice(this, o));
        }
        device = d;
        return d;
    }

    private static Cu.DevPtr ptr(Storage s) {
        if (!(s instanceof CudaStorage c)) throw new IllegalArgumentException("not CUDA storage: " + s);
        return c.ptr();
    }

    /** Device memory; out of memory is an {@link dev.speedrun.tensor.OutOfDeviceMemoryException} with what is free. */
    @Override public Storage allocate(long bytes) {
        JCudaDevice d = device();
        try {
            return new CudaStorage(this, d.malloc(bytes), bytes);
        } catch (Cu.CudaException e) {
            if (!e.getMessage().contains("CUDA_ERROR_OUT_OF_MEMORY")) throw e;
            // malloc made the context current on this thread: the driver reports this GPU's memory
            long[] free = {0}, total = {0};
            jcuda.driver.JCudaDriver.cuMemGetInfo(free, total);
            throw new dev.speedrun.tensor.OutOfDeviceMemoryException(toString(), bytes, free[0], total[0]);
        }
    }

    @Override public void free(Storage storage) { device().free(ptr(storage)); }

    @Override public void copyFromHost(Tensor dst, MemorySegment src) {
        device().copyFromHost(ptr(dst.storage()), dst.byteOffset(), src, dst.byteSize());
    }

    @Override public void copyFromHostAsync(Tensor dst, MemorySegment src) {
        device().copyFromHostAsync(ptr(dst.storage()), dst.byteOffset(), src, dst.byteSize());
    }

    /** Uploads on the device's copy stream, ordered by events ({@link CopyStreamUploads}). */
    @Override public dev.speedrun.tensor.UploadStream newUploadStream(int sets) {
        JCudaDevice d = device();
        return new CopyStreamUploads(d, (dst, src) -> d.copyFromHostAsync(ptr(dst.storage()), dst.byteOffset(), src, dst.byteSize(), Lane.COPY), sets);
    }

    @Override public void copyToHost(MemorySegment dst, Tensor src) {
        device().copyToHost(dst, ptr(src.storage()), src.byteOffset(), src.byteSize());
    }

    @Override public void copy(Tensor dst, Tensor src) {
        if (dst.byteSize() != src.byteSize()) throw new IllegalArgumentException("copy " + src + " -> " + dst + ": byte sizes differ");
        device().copy(ptr(dst.storage()), dst.byteOffset(), ptr(src.storage()), src.byteOffset(), dst.byteSize());
    }

    @Override public void synchronize() { device().synchronize(); }

    /** A region of the device's launch queue: identical launch sequences replay as one CUDA graph ({@link LaunchQueue}). */
    @Override public void replayable(Runnable work) { device().replayable(work); }

    @Override public MemoryArena newArena() { return new MemoryArena(this); }

    /** Backends of the same GPU are interchangeable (ServiceLoader makes a new instance per lookup). */
    @Override public boolean equals(Object o) { return o instanceof CudaBackend c && c.ordinal == ordinal; }

    @Override public int hashCode() { return 31 * NAME.hashCode() + ordinal; }

    @Override public String toString() { return "cuda:" + ordinal; }
}
