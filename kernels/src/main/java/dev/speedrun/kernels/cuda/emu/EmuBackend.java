package dev.speedrun.kernels.cuda.emu;

import dev.speedrun.kernels.cuda.DeviceObserver;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Storage;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The "cuda-emu" backend: the memory of the emulated CUDA device, off-heap segments that the
 * emulated kernels address directly. Like real device memory it is not host memory to the rest of
 * the program ({@link Storage#hostSegment()} throws), so code that would read a GPU buffer from the
 * host fails here as it would on a GPU; transfers are segment copies.
 */
public final class EmuBackend implements Backend {
    public static final String NAME = "cuda-emu";

    /** Emulated device memory. */
    public record EmuStorage(EmuBackend backend, Arena arena, MemorySegment segment) implements Storage {
        @Override public long byteSize() { return segment.byteSize(); }

        @Override public long address() { return segment.address(); }
    }

    private volatile DeviceObserver observer;

    @Override public String name() { return NAME; }

    /** Reports this memory's host waits (synchronous copies, synchronize) to {@code o}; set by {@link EmuDevice#observe}. */
    void observe(DeviceObserver o) { observer = o; }

    private void hostSync(DeviceObserver.HostSync kind) {
        DeviceObserver o = observer;
        if (o != null) o.hostSync(kind);
    }

    @Override public boolean isAvailable() { return unavailableReason().isEmpty(); }

    @Override public String unavailableReason() { return EmuLibrary.problem(EmuLibrary.MAIN); }

    @Override public Storage allocate(long bytes) {
        Arena arena = Arena.ofShared();
        return new EmuStorage(this, arena, arena.allocate(Math.max(bytes, 1), MemoryArena.ALIGN));
    }

    @Override public void free(Storage storage) { emu(storage).arena().close(); }

    private static EmuStorage emu(Storage s) {
        if (!(s instanceof EmuStorage e)) throw new IllegalArgumentException("not emulated CUDA memory: " + s);
        return e;
    }

    private static MemorySegment seg(Tensor t) { return emu(t.storage()).segment().asSlice(t.byteOffset(), t.byteSize()); }

    // The emulated launches run synchronously, so a copy is in stream order whenever it runs; the
    // synchronous ones are counted as the host waits they are on a GPU, the asynchronous one is not.

    @Override public void copyFromHost(Tensor dst, MemorySegment src) {
        hostSync(DeviceObserver.HostSync.COPY_FROM_HOST);
        seg(dst).copyFrom(src.asSlice(0, dst.byteSize()));
    }

    /** Takes the bytes at the call, as the GPU's pinned staging does; no host wait. */
    @Override public void copyFromHostAsync(Tensor dst, MemorySegment src) { seg(dst).copyFrom(src.asSlice(0, dst.byteSize())); }

    @Override public void copyToHost(MemorySegment dst, Tensor src) {
        hostSync(DeviceObserver.HostSync.COPY_TO_HOST);
        dst.asSlice(0, src.byteSize()).copyFrom(seg(src));
    }

    @Override public void synchronize() { hostSync(DeviceObserver.HostSync.STREAM_SYNCHRONIZE); }

    @Override public void copy(Tensor dst, Tensor src) {
        if (dst.byteSize() != src.byteSize()) throw new IllegalArgumentException("copy " + src + " -> " + dst + ": byte sizes differ");
        seg(dst).copyFrom(seg(src));
    }

    /** Every instance is the same device memory. */
    @Override public boolean equals(Object o) { return o instanceof EmuBackend; }

    @Override public int hashCode() { return NAME.hashCode(); }

    @Override public String toString() { return NAME; }
}
