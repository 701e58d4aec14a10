package dev.speedrun.tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Bump allocator over backend storage, freed together. A model sizes its arena once; allocations
 * after set-up are a bug the caller can detect with {@link #allocatedBytes()}.
 * Allocations are 256-byte aligned (vector loads, cuBLASLt alignment).
 */
public final class MemoryArena implements AutoCloseable {
    public static final int ALIGN = 256;
    private static final long DEFAULT_CHUNK = 64L << 20;

    private final Backend backend;
    private final List<Storage> chunks = new ArrayList<>();
    private Storage current;
    private long used;
    private long allocated;

    public MemoryArena(Backend backend) { this.backend = backend; }

    public Backend backend() { return backend; }

    /** A zero-filled tensor of {@code dtype} and {@code dims}. */
    public Tensor allocate(DType dtype, long... dims) {
        Shape shape = Shape.of(dims);
        long bytes = Math.max(1, shape.numel() * dtype.byteSize());
        long aligned = (bytes + ALIGN - 1) / ALIGN * ALIGN;
        if (current == null || used + aligned > current.byteSize()) {
            current = backend.allocate(Math.max(aligned, DEFAULT_CHUNK));
            chunks.add(current);
            allocated += current.byteSize();
            used = 0;
        }
        Tensor t = new Tensor(current, dtype, used, shape);
        used += aligned;
        return t;
    }

    /** Reserves one chunk of {@code bytes} up front so the following allocations share it. */
    public void reserve(long bytes) {
        current = backend.allocate(Math.max(bytes, ALIGN));
        chunks.add(current);
        allocated += current.byteSize();
        used = 0;
    }

    /** Bytes obtained from the backend so far. */
    public long allocatedBytes() { return allocated; }

    @Override public void close() {
        for (Storage s : chunks) backend.free(s);
        chunks.clear();
        current = null;
    }
}
