package dev.speedrun.kernels.cuda.emu;

import dev.speedrun.kernels.cuda.DeviceObserver;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.OutOfDeviceMemoryException;
import dev.speedrun.tensor.Storage;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The "cuda-emu" backend: the memory of the emulated CUDA device, off-heap segments that the
 * emulated kernels address directly. Like real device memory it is not host memory to the rest of
 * the program ({@link Storage#hostSegment()} throws), so code that would read a GPU buffer from the
 * host fails here as it would on a GPU; transfers are segment copies.
 *
 * <p>Its size is unlimited unless capped ({@link #setMemoryCap}, or the system property
 * {@value #CAP_PROPERTY} in bytes, with an optional k/m/g suffix): an allocation past the cap
 * throws {@link OutOfDeviceMemoryException} as cuMemAlloc's out-of-memory would on a GPU, so the
 * trainer's out-of-memory report is tested on the CPU.
 *
 * <p>CUDA graphs: the emulated devices made on this backend attach to it; every copy, allocation,
 * free and synchronize first flushes their launch queues ({@link EmuDevice#flush}), as the GPU
 * backend's calls flush its device's, and {@link #replayable} opens a region on each of them.
 */
public final class EmuBackend implements Backend {
    public static final String NAME = "cuda-emu";
    public static final String CAP_PROPERTY = "cuda.emu.memory-bytes";

    /** Bytes allocated and not freed, over every instance (they are all the same device). */
    private static final AtomicLong USED = new AtomicLong();
    private static volatile long cap = parseCap(System.getProperty(CAP_PROPERTY));

    /** Caps the emulated device's memory at {@code bytes} (≤ 0: unlimited); returns the previous cap. */
    public static long setMemoryCap(long bytes) {
        long old = cap;
        cap = bytes;
        return old;
    }

    /** Bytes allocated and not yet freed. */
    public static long usedBytes() { return USED.get(); }

    static long parseCap(String v) {
        if (v == null || v.isBlank()) return 0;
        String s = v.strip().toLowerCase(java.util.Locale.ROOT);
        long mult = switch (s.charAt(s.length() - 1)) {
            case 'k' -> 1L << 10;
            case 'm' -> 1L << 20;
            case 'g' -> 1L << 30;
            default -> 1;
        };
        if (mult > 1) s = s.substring(0, s.length() - 1);
        try {
            return Long.parseLong(s) * mult;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("-D" + CAP_PROPERTY + "=" + v + ": expected a byte count such as 268435456, 256m or 1g");
        }
    }

    /** Emulated device memory. */
    public record EmuStorage(EmuBackend backend, Arena arena, MemorySegment segment) implements Storage {
        @Override public long byteSize() { return segment.byteSize(); }

        @Override public long address() { return segment.address(); }
    }

    private volatile DeviceObserver observer;
    /** The emulated devices using this backend (usually one: each rank makes its own backend and device). */
    private final List<EmuDevice> devices = new CopyOnWriteArrayList<>();

    @Override public String name() { return NAME; }

    void attach(EmuDevice d) { devices.add(d); }

    void detach(EmuDevice d) { devices.remove(d); }

    /** Sends what the attached devices' regions have queued (before anything else touches this memory). */
    private void flush() { for (EmuDevice d : devices) d.flush(); }

    /** A region on every attached device ({@link EmuDevice#replayable}); with none, {@code work.run()}. */
    @Override public void replayable(Runnable work) { region(0, work); }

    private void region(int i, Runnable work) {
        if (i >= devices.size()) work.run();
        else devices.get(i).replayable(() -> region(i + 1, work));
    }

    /** Reports this memory's host waits (synchronous copies, synchronize) to {@code o}; set by {@link EmuDevice#observe}. */
    void observe(DeviceObserver o) { observer = o; }

    private void hostSync(DeviceObserver.HostSync kind) {
        DeviceObserver o = observer;
        if (o != null) o.hostSync(kind);
    }

    @Override public boolean isAvailable() { return unavailableReason().isEmpty(); }

    @Override public String unavailableReason() { return EmuLibrary.problem(EmuLibrary.MAIN); }

    @Override public Storage allocate(long bytes) {
        flush();
        long size = Math.max(bytes, 1), limit = cap;
        long now = USED.addAndGet(size);
        if (limit > 0 && now > limit) {
            USED.addAndGet(-size);
            throw new OutOfDeviceMemoryException(NAME + " (capped by -D" + CAP_PROPERTY + ")", size, Math.max(0, limit - (now - size)), limit);
        }
        Arena arena = Arena.ofShared();
        try {
            return new EmuStorage(this, arena, arena.allocate(size, MemoryArena.ALIGN));
        } catch (OutOfMemoryError | RuntimeException e) {
            USED.addAndGet(-size);
            arena.close();
            throw e;
        }
    }

    @Override public void free(Storage storage) {
        flush();   // queued launches may still read it
        EmuStorage e = emu(storage);
        USED.addAndGet(-e.byteSize());
        e.arena().close();
    }

    private static EmuStorage emu(Storage s) {
        if (!(s instanceof EmuStorage e)) throw new IllegalArgumentException("not emulated CUDA memory: " + s);
        return e;
    }

    private static MemorySegment seg(Tensor t) { return emu(t.storage()).segment().asSlice(t.byteOffset(), t.byteSize()); }

    // The emulated launches run synchronously, so a copy is in stream order whenever it runs; the
    // synchronous ones are counted as the host waits they are on a GPU, the asynchronous one is not.

    @Override public void copyFromHost(Tensor dst, MemorySegment src) {
        flush();
        hostSync(DeviceObserver.HostSync.COPY_FROM_HOST);
        seg(dst).copyFrom(src.asSlice(0, dst.byteSize()));
    }

    /** Takes the bytes at the call, as the GPU's pinned staging does; no host wait. */
    @Override public void copyFromHostAsync(Tensor dst, MemorySegment src) {
        flush();
        seg(dst).copyFrom(src.asSlice(0, dst.byteSize()));
    }

    @Override public void copyToHost(MemorySegment dst, Tensor src) {
        flush();
        hostSync(DeviceObserver.HostSync.COPY_TO_HOST);
        dst.asSlice(0, src.byteSize()).copyFrom(seg(src));
    }

    @Override public void synchronize() {
        flush();
        hostSync(DeviceObserver.HostSync.STREAM_SYNCHRONIZE);
    }

    @Override public void copy(Tensor dst, Tensor src) {
        if (dst.byteSize() != src.byteSize()) throw new IllegalArgumentException("copy " + src + " -> " + dst + ": byte sizes differ");
        flush();
        seg(dst).copyFrom(seg(src));
    }

    /** Every instance is the same device memory. */
    @Override public boolean equals(Object o) { return o instanceof EmuBackend; }

    @Override public int hashCode() { return NAME.hashCode(); }

    @Override public String toString() { return NAME; }
}
