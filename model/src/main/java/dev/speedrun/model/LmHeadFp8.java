package dev.speedrun.model;

import java.util.Locale;
import java.util.Map;

/**
 * The switch of the record's FP8 LM head (spec §2.5): with {@link #ON} (the record's default) a
 * model in {@link Precision#MIXED} runs its LM head in FP8 while training (E4M3 activations and
 * weight, E5M2 output gradient) where the backend has FP8 GEMMs, and in BF16 elsewhere and in
 * evaluation; {@link #OFF} keeps it BF16 throughout. Uniform precisions (F64, F32, BF16) never use
 * FP8.
 *
 * <p>Set like the record's {@code DISABLE_FP8} environment variable: unset, empty, {@code 0},
 * {@code false} or {@code no} leave FP8 on; {@code 1}, {@code true} or {@code yes} turn it off
 * (e.g. {@code DISABLE_FP8=1 ./train-app train ...}); any other value is an error naming it.
 */
public enum LmHeadFp8 {
    ON, OFF;

    /** The environment variable the record reads. */
    public static final String ENV = "DISABLE_FP8";

    /** The switch as the process environment sets it ({@link #ENV}). */
    public static LmHeadFp8 fromEnvironment() { return from(System.getenv()); }

    /** The switch as {@code env} sets it ({@link #ENV}); an error naming the variable and value otherwise. */
    public static LmHeadFp8 from(Map<String, String> env) {
        String v = env.get(ENV);
        if (v == null) return ON;
        return switch (v.trim().toLowerCase(Locale.ROOT)) {
            case "", "0", "false", "no" -> ON;
            case "1", "true", "yes" -> OFF;
            default -> throw new IllegalArgumentException(ENV + "=" + v + ": expected 1/true/yes (FP8 LM head off) or 0/false/no (on)");
        };
    }
}
