package dev.speedrun.data;

import java.nio.file.Path;
import java.util.List;

/**
 * BOS-aligned training batches (spec §1) for one rank. Every rank runs its own batcher over the
 * same sorted shard list; all of them walk the same documents and each keeps its own run (rank 0
 * first). Shards are read once in order; when a shard's BOS positions run out, the rest of it is
 * dropped and the next shard, already loaded on a background thread, is used. Batch size and
 * {@code maxSeqLen} may change on every call. Not thread-safe: one batcher per rank thread.
 */
public final class TrainBatcher implements AutoCloseable {
    private final List<Path> files;
    private final int worldSize;
    private final int rank;
    private final int bosId;
    private final ShardPrefetcher prefetcher;
    private ShardPrefetcher.Loaded current;
    private int cursor;
    private long tokensServed;

    /** Starts at the first document of the first shard. */
    public TrainBatcher(List<Path> files, int worldSize, int rank) {
        this(files, worldSize, rank, DataPosition.START, Shard.BOS);
    }

    /**
     * @param files     training shards; read in name order. Every header is validated here, so a
     *                  bad shard fails at start-up, not hours into a run
     * @param start     where to resume (from {@link #position()} of an earlier run)
     * @param bosId     the document-start token
     */
    public TrainBatcher(List<Path> files, int worldSize, int rank, DataPosition start, int bosId) {
        if (files.isEmpty()) throw new DataException("no training shards given");
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new DataException("bad rank " + rank + " for world size " + worldSize);
        }
        List<Path> sorted = files.stream().sorted(java.util.Comparator.comparing(p -> p.getFileName().toString())).toList();
        for (Path f : sorted) Shard.checkHeader(f);
        if (start.shard() >= sorted.size()) {
            throw new DataException("resume position " + start + " is past the last of " + sorted.size() + " training shards");
        }
        this.files = sorted;
        this.worldSize = worldSize;
        this.rank = rank;
        this.bosId = bosId;
        this.prefetcher = new ShardPrefetcher(sorted, bosId, "data-prefetch-rank" + rank);
        this.current = prefetcher.take(start.shard());
        if (start.cursor() > current.bos().length) {
            int have = current.bos().length;
            current.shard().close();
            prefetcher.close();
            throw new DataException("resume position " + start + ": shard " + sorted.get(start.shard())
                    + " has only " + have + " documents");
        }
        this.cursor = (int) start.cursor();
        prefetcher.request(start.shard() + 1);
    }

    /** Tokens per rank and micro-step: {@code globalBatchTokens / (worldSize · gradAccum)}, checked. */
    public static int tokensPerRank(long globalBatchTokens, int worldSize, int gradAccum) {
        long div = (long) worldSize * gradAccum;
        if (div < 1 || globalBatchTokens < div || globalBatchTokens % div != 0) {
            throw new DataException("batch of " + globalBatchTokens + " tokens does not split evenly over world size "
                    + worldSize + " × grad_accum " + gradAccum);
        }
        return Math.toIntExact(globalBatchTokens / div);
    }

    /** The next micro-batch for a global batch of {@code globalBatchTokens} split over ranks and {@code gradAccum}. */
    public Batch next(long globalBatchTokens, int gradAccum, int maxSeqLen) {
        return next(tokensPerRank(globalBatchTokens, worldSize, gradAccum), maxSeqLen);
    }

    /**
     * The next micro-batch of {@code n} input tokens for this rank.
     *
     * @throws DataExhaustedException when the last shard has too few documents left
     */
    public Batch next(int n, int maxSeqLen) {
        while (true) {
            BosWalk.Plan plan = BosWalk.plan(current.bos(), cursor, current.shard().size(), n, maxSeqLen, worldSize, rank);
            if (plan.complete()) {
                cursor = plan.nextCursor();
                tokensServed += n;
                return materialize(plan, n);
            }
            int nextIndex = current.index() + 1;
            if (nextIndex >= files.size()) {
                long need = (long) worldSize * (n + 1);
                long missing = need - plan.collected();
                throw new DataExhaustedException("training data exhausted: the last shard " + files.get(current.index())
                        + " (" + files.size() + " shards, read once) has " + plan.collected()
                        + " usable tokens left but the next micro-batch needs " + need + " (" + worldSize + " ranks × "
                        + (n + 1) + "); at least " + missing + " more tokens are needed (add or download more shards)", missing);
            }
            // take the next shard before closing this one: when the take fails (a shard deleted
            // mid-run), the batcher still holds an open shard and its close() stays valid
            ShardPrefetcher.Loaded next = prefetcher.take(nextIndex);
            current.shard().close();
            current = next;
            cursor = 0;
            prefetcher.request(nextIndex + 1);
        }
    }

    private Batch materialize(BosWalk.Plan plan, int n) {
        int[] buf = new int[n + 1];
        int[] starts = plan.starts(), ends = plan.ends();
        int[] cum = new int[starts.length];
        int off = 0;
        for (int i = 0; i < starts.length; i++) {
            int len = ends[i] - starts[i];
            current.shard().copy(starts[i], buf, off, len);
            off += len;
            cum[i] = off;
        }
        cum[starts.length - 1]--; // the last segment gave its final token to the targets only
        int[] inputs = java.util.Arrays.copyOf(buf, n);
        int[] targets = java.util.Arrays.copyOfRange(buf, 1, n + 1);
        return new Batch(inputs, targets, Batch.padCuSeqlens(n, cum, cum.length, "shard " + current.shard().file()), cum.length);
    }

    /** Where the next batch starts; pass to the constructor to resume exactly. */
    public DataPosition position() { return new DataPosition(current.index(), cursor); }

    /** Total nanoseconds spent waiting for shards that were not ready (prefetch stalls). */
    public long waitNanos() { return prefetcher.waitNanos(); }

    /** Input tokens this batcher has returned. */
    public long tokensServed() { return tokensServed; }

    public int worldSize() { return worldSize; }

    public int rank() { return rank; }

    public int bosId() { return bosId; }

    public List<Path> files() { return files; }

    @Override public void close() {
        prefetcher.close();
        current.shard().close();
    }
}
