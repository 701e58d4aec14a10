package dev.speedrun.data;

/** Base of every error the data module reports (bad shard, data exhausted, bad settings). */
public class DataException extends RuntimeException {
    public DataException(String message) { super(message); }
    public DataException(String message, Throwable cause) { super(message, cause); }
}
