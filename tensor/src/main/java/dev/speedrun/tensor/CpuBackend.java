package dev.speedrun.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Host memory backend: off-heap segments from a shared arena per storage. */
public final class CpuBackend implements Backend {
    public static final String NAME = "cpu";

    /** Host storage; each has its own arena so it can be freed alone. */
    public record CpuStorage(CpuBackend backend, Arena arena, MemorySegment segment) implements Storage {
        @Override public long byteSize() { return segment.byteSize(); }
        @Override public MemorySegment hostSegment() { return segment; }
        @Override public long address() { return segment.address(); }
    }

    @Override public String name() { return NAME; }

    @Override public boolean isAvailable() { return true; }

    @Override public Storage allocate(long bytes) {
        Arena arena = Arena.ofShared();
        MemorySegment seg = arena.allocate(Math.max(bytes, 1), MemoryArena.ALIGN); // zero-filled
        return new CpuStorage(this, arena, seg);
    }

    @Override public void free(Storage storage) { ((CpuStorage) storage).arena().close(); }

    @Override public void copyFromHost(Tensor dst, MemorySegment src) {
        dst.segment().copyFrom(src.asSlice(0, dst.byteSize()));
    }

    @Override public void copyToHost(MemorySegment dst, Tensor src) {
        dst.asSlice(0, src.byteSize()).copyFrom(src.segment());
    }

    @Override public void copy(Tensor dst, Tensor src) {
        if (dst.byteSize() != src.byteSize()) throw new IllegalArgumentException("copy " + src + " -> " + dst + ": byte sizes differ");
        dst.segment().copyFrom(src.segment());
    }
}
