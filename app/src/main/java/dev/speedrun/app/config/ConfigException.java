package dev.speedrun.app.config;

/** A configuration mistake the user can fix; its message names the key/flag/value and what is valid. */
public final class ConfigException extends RuntimeException {
    public ConfigException(String message) { super(message); }

    public ConfigException(String message, Throwable cause) { super(message, cause); }
}
