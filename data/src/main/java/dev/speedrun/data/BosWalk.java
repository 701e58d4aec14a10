package dev.speedrun.data;

/**
 * The record's BOS-aligned document walk (spec §1) over one shard's BOS positions, for all ranks of
 * one micro-step. Pure: it neither reads tokens nor changes state.
 */
public final class BosWalk {
    private BosWalk() {}

    /**
     * Segments {@code [starts[i], ends[i])} of rank {@code rank}, the BOS cursor after all ranks,
     * and whether the shard had enough documents. When {@code complete} is false the shard ran out;
     * {@code collected} then counts the tokens all ranks had gathered before it did.
     */
    public record Plan(boolean complete, int[] starts, int[] ends, int nextCursor, long collected) {}

    /**
     * @param bos        ascending BOS positions of the shard
     * @param cursor     index into {@code bos} of the first document to use
     * @param shardSize  tokens in the shard (the last document ends there)
     * @param n          input tokens per rank; each rank collects {@code n + 1} tokens
     * @param maxSeqLen  documents are truncated to this many tokens
     */
    public static Plan plan(int[] bos, int cursor, int shardSize, int n, int maxSeqLen, int worldSize, int rank) {
        if (n < 1 || maxSeqLen < 1 || worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException("bad walk settings n=" + n + " maxSeqLen=" + maxSeqLen
                    + " worldSize=" + worldSize + " rank=" + rank);
        }
        int idx = cursor;
        int[] starts = null, ends = null;
        int count = 0;
        long collected = 0;
        for (int r = 0; r < worldSize; r++) {
            boolean mine = r == rank;
            if (mine) { starts = new int[16]; ends = new int[16]; }
            long len = 0;
            while (len <= n) {
                if (idx >= bos.length) return new Plan(false, new int[0], new int[0], cursor, collected);
                int s = bos[idx];
                long next = idx + 1 < bos.length ? bos[idx + 1] : shardSize;
                int e = (int) Math.min(next, Math.min((long) s + maxSeqLen, s + n - len + 1));
                if (mine) {
                    if (count == starts.length) {
                        starts = java.util.Arrays.copyOf(starts, count * 2);
                        ends = java.util.Arrays.copyOf(ends, count * 2);
                    }
                    starts[count] = s;
                    ends[count] = e;
                    count++;
                }
                len += e - s;
                collected += e - s;
                idx++;
            }
        }
        return new Plan(true, java.util.Arrays.copyOf(starts, count), java.util.Arrays.copyOf(ends, count), idx, collected);
    }
}
