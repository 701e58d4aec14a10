package dev.speedrun.kernels.cuda;

import dev.speedrun.tensor.Tensor;
import dev.speedrun.tensor.UploadStream;
import java.lang.foreign.MemorySegment;
import java.util.function.BiConsumer;

/**
 * {@link UploadStream} of a GPU: the copies run on the copy stream ({@link Lane#COPY}), so the
 * upload of micro-batch i+1 overlaps micro-batch i's kernels on the compute stream. Two events per
 * buffer set: {@code consumed[k]}, recorded on the compute stream by {@link #release} after the
 * last work that reads set k, which the copy stream waits for before writing set k again
 * ({@link #acquire}); and {@code copied[k]}, recorded on the copy stream after the set's copies,
 * which the compute stream waits for before the work that reads them ({@link #publish}). With two
 * sets the copy into set k waits for the micro-batch before the previous one (the last reader of
 * set k), not for the one still computing.
 */
final class CopyStreamUploads implements UploadStream {
    private final StreamEvents events;
    private final BiConsumer<Tensor, MemorySegment> copyOnCopyStream;
    private final int[] consumed, copied;

    /** {@code copyOnCopyStream}: dst ← src through pinned staging with cuMemcpyHtoDAsync on the copy stream. */
    CopyStreamUploads(StreamEvents events, BiConsumer<Tensor, MemorySegment> copyOnCopyStream, int sets) {
        if (sets < 1) throw new IllegalArgumentException("an upload stream needs at least one buffer set, got " + sets);
        this.events = events;
        this.copyOnCopyStream = copyOnCopyStream;
        consumed = new int[sets];
        copied = new int[sets];
        for (int k = 0; k < sets; k++) {
            consumed[k] = events.createEvent();
            copied[k] = events.createEvent();
        }
    }

    private int check(int set) {
        if (set < 0 || set >= consumed.length) throw new IllegalArgumentException("buffer set " + set + " outside 0.." + (consumed.length - 1));
        return set;
    }

    @Override public void acquire(int set) { events.waitEvent(Lane.COPY, consumed[check(set)]); }

    @Override public void copy(Tensor dst, MemorySegment src) { copyOnCopyStream.accept(dst, src); }

    @Override public void publish(int set) {
        events.recordEvent(copied[check(set)], Lane.COPY);
        events.waitEvent(Lane.COMPUTE, copied[set]);
    }

    @Override public void release(int set) { events.recordEvent(consumed[check(set)], Lane.COMPUTE); }
}
