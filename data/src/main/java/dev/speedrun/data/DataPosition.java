package dev.speedrun.data;

/**
 * Where a batcher stands, for checkpoints: the index of the current shard in the sorted file list
 * and a cursor inside it (for {@link TrainBatcher}: the index into the shard's BOS positions of the
 * next document; for {@link ValBatcher}: the token position of the next step). The walk is the same
 * on every rank, so the position is rank-independent.
 */
public record DataPosition(int shard, long cursor) {
    public static final DataPosition START = new DataPosition(0, 0);

    public DataPosition {
        if (shard < 0 || cursor < 0) throw new IllegalArgumentException("negative data position " + shard + "/" + cursor);
    }
}
