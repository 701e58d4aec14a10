package dev.speedrun.tensor;

import java.lang.foreign.MemorySegment;

/**
 * Memory side of a compute backend ("cpu", "cuda"), found with {@link java.util.ServiceLoader}
 * through {@link Backends}. Ops live in the kernels module; this SPI owns memory and transfers.
 */
public interface Backend {
    /** Short lowercase name used by flags and configs. */
    String name();

    /** Whether this backend can run here; cheap after the first call. */
    boolean isAvailable();

    /** Why {@link #isAvailable()} is false, in one sentence naming what is missing. */
    default String unavailableReason() { return ""; }

    /** Allocates zero-filled storage of {@code bytes}, aligned to at least 256 bytes. */
    Storage allocate(long bytes);

    /** Frees storage made by {@link #allocate}. */
    void free(Storage storage);

    /** Copies {@code dst.byteSize()} bytes from host memory into {@code dst}. */
    void copyFromHost(Tensor dst, MemorySegment src);

    /**
     * Like {@link #copyFromHost} but without making the host wait for the device: the bytes of
     * {@code src} are taken at the call (staged in the backend's pinned host memory, so the caller
     * may reuse {@code src} at once) and copied into {@code dst} in the order of the device's queued
     * work, so work queued before sees the old contents and work queued after the new. For the small
     * per-step inputs (token ids, cu_seqlens). On a backend without a queue this is {@link #copyFromHost}.
     */
    default void copyFromHostAsync(Tensor dst, MemorySegment src) { copyFromHost(dst, src); }

    /**
     * A new {@link UploadStream} for inputs rotating through {@code sets} buffer sets (the model's
     * double-buffered micro-batch inputs). A GPU backend copies on its copy stream, ordered by
     * events; the default is {@link UploadStream#inOrder}.
     */
    default UploadStream newUploadStream(int sets) {
        if (sets < 1) throw new IllegalArgumentException("an upload stream needs at least one buffer set, got " + sets);
        return UploadStream.inOrder(this);
    }

    /** Copies {@code src.byteSize()} bytes of {@code src} into host memory. */
    void copyToHost(MemorySegment dst, Tensor src);

    /** Copies bytes between two tensors of this backend (same byte size). */
    void copy(Tensor dst, Tensor src);

    /** Waits until all queued work is done. */
    default void synchronize() {}

    /**
     * Runs {@code work}, letting a backend with a launch queue record the device work it issues and
     * replay a sequence identical, byte for byte, to one it saw before as one CUDA graph (docs/cuda.md,
     * "CUDA graphs"). The results are exactly those of {@code work.run()}: anything other than a
     * kernel launch (a copy, a host read, an allocation, a collective) first sends what was recorded,
     * and only an identical sequence is ever replayed. Regions nest (an inner one joins the outer).
     * By default (no queue, as on the CPU): {@code work.run()}.
     */
    default void replayable(Runnable work) { work.run(); }

    /** A new arena on this backend; everything it allocates is freed together on close. */
    default MemoryArena newArena() { return new MemoryArena(this); }
}
