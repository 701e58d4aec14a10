package dev.speedrun.tensor;

import java.lang.foreign.MemorySegment;

/**
 * Uploads of per-micro-batch inputs (token ids, targets, cu_seqlens) into rotating sets of device
 * buffers, on a GPU through a copy stream (docs/cuda.md, "Streams"): while the compute stream still
 * runs the work that reads set k, the copy stream writes set k+1. Per upload into set k:
 * {@link #acquire}(k), {@link #copy} for each buffer of the set, {@link #publish}(k); after queueing
 * the last work that reads set k: {@link #release}(k). Made by {@link Backend#newUploadStream}.
 */
public interface UploadStream {
    /** Before writing set {@code set}: the copies wait until the work that read it last ({@link #release}) has run. */
    void acquire(int set);

    /** {@code dst} ← the bytes of {@code src} (taken at the call, as {@link Backend#copyFromHostAsync}); ordered by the set's acquire and publish. */
    void copy(Tensor dst, MemorySegment src);

    /** After the copies into {@code set}: work queued from now on runs after them. */
    void publish(int set);

    /** After queueing the last work that reads {@code set}: the next {@link #acquire} of it waits for that work. */
    void release(int set);

    /**
     * For a backend whose work runs in call order or on one queue (CPU; the emulated GPU): the
     * copies go through {@link Backend#copyFromHostAsync} and are ordered with everything else by
     * that queue, so acquire, publish and release have nothing to do.
     */
    static UploadStream inOrder(Backend backend) {
        return new UploadStream() {
            @Override public void acquire(int set) {}

            @Override public void copy(Tensor dst, MemorySegment src) { backend.copyFromHostAsync(dst, src); }

            @Override public void publish(int set) {}

            @Override public void release(int set) {}
        };
    }
}
