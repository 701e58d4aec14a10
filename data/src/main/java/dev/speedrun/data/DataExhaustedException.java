package dev.speedrun.data;

/** Training data ran out (shards are read once, never wrapped); says how many tokens were missing. */
public final class DataExhaustedException extends DataException {
    private final long tokensMissing;

    public DataExhaustedException(String message, long tokensMissing) {
        super(message);
        this.tokensMissing = tokensMissing;
    }

    /** At least this many more tokens would have been needed for the batch that failed. */
    public long tokensMissing() { return tokensMissing; }
}
