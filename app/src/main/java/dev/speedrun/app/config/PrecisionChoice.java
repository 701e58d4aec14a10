package dev.speedrun.app.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;
import dev.speedrun.model.Precision;
import java.util.Arrays;
import java.util.Locale;

/**
 * The {@code precision} key: a model {@link Precision}, or {@link #AUTO}, which depends on the
 * backend. Written and read in lower case ({@code auto}, {@code mixed}, {@code f32}, ...).
 */
public enum PrecisionChoice {
    /** The record's mixed precision on cuda, F32 elsewhere. */
    AUTO,
    MIXED,
    F32,
    F64,
    BF16;

    @JsonValue public String key() { return name().toLowerCase(Locale.ROOT); }

    /** The choice spelled {@code s} (any case); an error naming the key and the valid values otherwise. */
    @JsonCreator public static PrecisionChoice parse(String s) {
        for (PrecisionChoice c : values()) if (c.key().equalsIgnoreCase(s)) return c;
        throw new ConfigException("precision must be one of " + String.join(", ", Arrays.stream(values()).map(PrecisionChoice::key).toList())
                + "; got '" + s + "'");
    }

    /** The model precision this choice means on {@code backend}. */
    public Precision resolve(String backend) {
        return this == AUTO ? ("cuda".equals(backend) ? Precision.MIXED : Precision.F32) : Precision.valueOf(name());
    }
}
