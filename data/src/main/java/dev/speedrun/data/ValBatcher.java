package dev.speedrun.data;

import java.nio.file.Path;
import java.util.List;

/**
 * Validation batches (spec §1): contiguous, not aligned to documents. A micro-step takes
 * {@code worldSize · n} tokens from the current position; rank {@code r} gets
 * {@code [pos + r·n, pos + (r+1)·n + 1)}. {@code cu_seqlens = [0, BOS positions in the inputs...]}
 * padded with {@code n}. Like the record, a shard is left when {@code pos + worldSize·n + 1 >= size}.
 */
public final class ValBatcher implements AutoCloseable {
    private final List<Path> files;
    private final int worldSize;
    private final int rank;
    private final int bosId;
    private int shardIndex = -1;
    private Shard shard;
    private long pos;

    public ValBatcher(List<Path> files, int worldSize, int rank) { this(files, worldSize, rank, Shard.BOS); }

    public ValBatcher(List<Path> files, int worldSize, int rank, int bosId) {
        if (files.isEmpty()) throw new DataException("no validation shards given");
        if (worldSize < 1 || rank < 0 || rank >= worldSize) throw new DataException("bad rank " + rank + " for world size " + worldSize);
        this.files = files.stream().sorted(java.util.Comparator.comparing(p -> p.getFileName().toString())).toList();
        for (Path f : this.files) Shard.checkHeader(f);
        this.worldSize = worldSize;
        this.rank = rank;
        this.bosId = bosId;
        reset();
    }

    /** Back to the first token of the first shard (each validation pass starts here). */
    public void reset() { seek(DataPosition.START); }

    /** Moves to a saved position. */
    public void seek(DataPosition p) {
        if (p.shard() >= files.size()) throw new DataException("validation position " + p + " is past the last of " + files.size() + " shards");
        if (p.shard() != shardIndex) {
            if (shard != null) shard.close();
            shard = null;
            shard = Shard.open(files.get(p.shard()));
            shardIndex = p.shard();
        }
        pos = p.cursor();
    }

    public DataPosition position() { return new DataPosition(shardIndex, pos); }

    /** Next micro-batch of {@code n} input tokens for this rank. */
    public Batch next(int n) {
        if (n < 1) throw new DataException("validation batch of " + n + " tokens per rank");
        long global = (long) worldSize * n;
        while (pos + global + 1 >= shard.size()) {
            if (shardIndex + 1 >= files.size()) {
                throw new DataExhaustedException("validation data exhausted: " + files.get(shardIndex) + " has "
                        + Math.max(0, shard.size() - pos) + " tokens left at position " + pos + " but a step needs more than "
                        + (global + 1) + " (" + worldSize + " ranks × " + n + " + 1)", pos + global + 2 - shard.size());
            }
            seek(new DataPosition(shardIndex + 1, 0));
        }
        int from = Math.toIntExact(pos + (long) rank * n);
        int[] buf = new int[n + 1];
        shard.copy(from, buf, 0, n + 1);
        int[] inputs = java.util.Arrays.copyOf(buf, n);
        int[] targets = java.util.Arrays.copyOfRange(buf, 1, n + 1);
        int[] bos = new int[n];
        int count = 0;
        for (int i = 0; i < n; i++) if (inputs[i] == bosId) bos[count++] = i;
        pos += global;
        return new Batch(inputs, targets, Batch.padCuSeqlens(n, bos, count, "validation shard " + files.get(shardIndex)), count);
    }

    @Override public void close() {
        if (shard != null) shard.close();
        shard = null;
    }
}
