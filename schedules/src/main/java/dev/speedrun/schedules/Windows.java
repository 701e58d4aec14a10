package dev.speedrun.schedules;

/** Attention windows in blocks of {@code block_size} tokens: short (most layers) and long (layers 3, 10). */
public record Windows(int shortBlocks, int longBlocks) {
    public Windows {
        if (shortBlocks < 0 || longBlocks < 0) throw new IllegalArgumentException("windows must be ≥ 0: " + shortBlocks + "/" + longBlocks);
    }

    /** The record's rule: short = long // 2. */
    public static Windows ofLong(int longBlocks) { return new Windows(longBlocks / 2, longBlocks); }
}
