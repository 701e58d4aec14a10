package dev.speedrun.data;

import java.nio.file.Path;

/**
 * A token shard that cannot be used: unreadable, wrong magic or version, or a token count that
 * does not match the file length. The message always names the file.
 */
public final class ShardFormatException extends DataException {
    private final Path file;

    public ShardFormatException(Path file, String problem) {
        super("shard " + file + ": " + problem);
        this.file = file;
    }

    public ShardFormatException(Path file, String problem, Throwable cause) {
        super("shard " + file + ": " + problem, cause);
        this.file = file;
    }

    /** The offending file. */
    public Path file() { return file; }
}
