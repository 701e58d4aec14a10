package dev.speedrun.model;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Shape;
import dev.speedrun.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Plans named buffers first, then allocates them all at once from one reserved arena chunk, so
 * that every view lives in one flat block of backend memory allocated before training starts.
 */
final class BufferPlan {
    private record Request(String name, DType dtype, long[] dims) {}

    private final List<Request> requests = new ArrayList<>();
    private final Map<String, Tensor> views = new LinkedHashMap<>();

    /** Requests a buffer; returns its index in allocation order. */
    int add(String name, DType dtype, long... dims) {
        requests.add(new Request(name, dtype, dims.clone()));
        return requests.size() - 1;
    }

    /** Reserves the total size in {@code arena} and allocates every request (zero-filled). */
    void allocate(MemoryArena arena) {
        long total = 0;
        for (Request r : requests) total += aligned(Shape.of(r.dims).numel() * r.dtype.byteSize());
        arena.reserve(total);
        for (Request r : requests) {
            if (views.containsKey(r.name)) throw new IllegalStateException("buffer '" + r.name + "' planned twice");
            views.put(r.name, arena.allocate(r.dtype, r.dims));
        }
    }

    Tensor get(String name) {
        Tensor t = views.get(name);
        if (t == null) throw new IllegalStateException("no buffer '" + name + "'");
        return t;
    }

    boolean has(String name) { return views.containsKey(name); }

    Map<String, Tensor> all() { return views; }

    private static long aligned(long bytes) {
        long b = Math.max(1, bytes);
        return (b + MemoryArena.ALIGN - 1) / MemoryArena.ALIGN * MemoryArena.ALIGN;
    }
}
