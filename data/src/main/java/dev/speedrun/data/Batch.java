package dev.speedrun.data;

/**
 * One rank's micro-batch.
 *
 * @param inputs    {@code [n]} token ids fed to the model
 * @param targets   {@code [n]} next-token targets ({@code inputs} shifted by one)
 * @param cuSeqlens {@code [L]} document boundaries into {@code inputs}: {@code cuSeqlens[0] = 0},
 *                  then {@code segments} cumulative ends, then padded with {@code n} to the fixed
 *                  length {@code L = }{@link #cuSeqlensLength(int) cuSeqlensLength(n)}
 * @param segments  number of real boundaries after the leading 0 (the rest is padding)
 */
public record Batch(int[] inputs, int[] targets, int[] cuSeqlens, int segments) {
    public Batch {
        if (inputs.length != targets.length) {
            throw new IllegalArgumentException("inputs [" + inputs.length + "] and targets [" + targets.length + "] differ");
        }
    }

    /** Tokens per rank in this batch ({@code n}). */
    public int size() { return inputs.length; }

    /**
     * The record's fixed cu_seqlens length for {@code n} tokens per rank:
     * {@code max(128, ceil((n / 300) / 128) * 128)} (a median document is ~400 tokens).
     */
    public static int cuSeqlensLength(int n) {
        int docs = n / 300;
        return Math.max(128, (docs + 127) / 128 * 128);
    }

    /** Builds the padded cu_seqlens from boundary ends (strictly the real entries after 0). */
    static int[] padCuSeqlens(int n, int[] ends, int count, String what) {
        int len = cuSeqlensLength(n);
        if (count + 1 > len) {
            throw new DataException(what + ": " + count + " document boundaries in a batch of " + n
                    + " tokens exceed the fixed cu_seqlens length " + len
                    + " (documents average under " + (n / Math.max(1, count)) + " tokens; use longer documents or a larger batch)");
        }
        int[] cu = new int[len];
        java.util.Arrays.fill(cu, n);
        cu[0] = 0;
        System.arraycopy(ends, 0, cu, 1, count);
        return cu;
    }
}
