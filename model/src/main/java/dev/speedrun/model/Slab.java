package dev.speedrun.model;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Shape;
import dev.speedrun.tensor.Tensor;
import java.util.function.Function;

/**
 * One backend allocation for all of a model's buffers, so that every view lives in one flat
 * block allocated before training starts. {@link #allocate} runs a layout function twice: first
 * to add up the sizes it asks for (the views it gets are then null and the result is dropped),
 * then, after reserving that total as one arena chunk, to hand out views of it in the same order.
 */
final class Slab {
    private Slab() {}

    /** Hands out one zero-filled buffer per call. */
    @FunctionalInterface
    interface Take {
        Tensor take(DType dtype, long... dims);
    }

    static <L> L allocate(MemoryArena arena, Function<Take, L> layout) {
        long[] total = {0};
        layout.apply((dtype, dims) -> {
            total[0] += aligned(Shape.of(dims).numel() * dtype.byteSize());
            return null;
        });
        arena.reserve(total[0]);
        return layout.apply(arena::allocate);
    }

    /** The bytes the arena uses for a buffer of {@code bytes}. */
    private static long aligned(long bytes) {
        long b = Math.max(1, bytes);
        return (b + MemoryArena.ALIGN - 1) / MemoryArena.ALIGN * MemoryArena.ALIGN;
    }
}
