package dev.speedrun.data;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Loads shards (map, validate, touch every page while building the BOS index) on one background
 * daemon thread, so the training step waits only when a shard is genuinely not ready. The time
 * spent waiting in {@link #take} is measured.
 */
public final class ShardPrefetcher implements AutoCloseable {
    /** A mapped shard and its BOS positions. The consumer closes the shard. */
    public record Loaded(int index, Shard shard, int[] bos) {}

    private final List<Path> files;
    private final int bosId;
    private final ExecutorService exec;
    private int pendingIndex = -1;
    private Future<Loaded> pending;
    private long waitNanos;
    private int waits;

    public ShardPrefetcher(List<Path> files, int bosId, String threadName) {
        this.files = List.copyOf(files);
        this.bosId = bosId;
        this.exec = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, threadName);
            t.setDaemon(true);
            return t;
        });
    }

    private Loaded load(int index) {
        Shard s = Shard.open(files.get(index));
        try {
            return new Loaded(index, s, s.bosPositions(bosId));
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
    }

    /** Starts loading shard {@code index} in the background (no-op past the last file). */
    public synchronized void request(int index) {
        if (index == pendingIndex || index >= files.size()) return;
        discardPending();
        pendingIndex = index;
        pending = exec.submit(() -> load(index));
    }

    /** Shard {@code index}: the prefetched one, or loaded now. Time spent blocked is recorded. */
    public synchronized Loaded take(int index) {
        if (index < 0 || index >= files.size()) throw new IndexOutOfBoundsException("shard " + index + " of " + files.size());
        long t0 = System.nanoTime();
        boolean waited;
        Loaded l;
        try {
            if (index == pendingIndex) {
                Future<Loaded> f = pending;
                pending = null;
                pendingIndex = -1;
                waited = !f.isDone();
                l = f.get();
            } else {
                discardPending();
                waited = true;
                l = load(index);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DataException("interrupted while loading " + files.get(index), e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof DataException de) throw de;
            throw new DataException("loading " + files.get(index) + " failed: " + e.getCause(), e.getCause());
        } catch (CancellationException e) {
            throw new DataException("loading " + files.get(index) + " was cancelled", e);
        }
        if (waited) {
            waitNanos += System.nanoTime() - t0;
            waits++;
        }
        return l;
    }

    private void discardPending() {
        if (pending == null) return;
        Future<Loaded> f = pending;
        pending = null;
        pendingIndex = -1;
        // Close what the background thread mapped once it finishes; never block the caller.
        exec.submit(() -> {
            try { f.get().shard().close(); } catch (Exception ignored) { /* failed load: nothing mapped */ }
        });
    }

    /** Total nanoseconds {@link #take} spent waiting for data that was not ready. */
    public synchronized long waitNanos() { return waitNanos; }

    /** How many {@link #take} calls had to wait. */
    public synchronized int waits() { return waits; }

    @Override public synchronized void close() {
        discardPending();
        exec.shutdown();
    }
}
