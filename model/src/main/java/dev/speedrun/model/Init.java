package dev.speedrun.model;

/** How a parameter is initialised (seeded, deterministic). */
public sealed interface Init {
    /** All zeros. */
    record Zeros() implements Init {}

    /** U(−bound, bound) on rows [0, rows), zero on the remaining rows (-1 = all rows). */
    record Uniform(double bound, long rows) implements Init {
        public Uniform(double bound) { this(bound, -1); }
    }

    /** N(0, std²). */
    record Normal(double std) implements Init {}

    /** Exactly these values, in order (the {@code scalars} vector). */
    record Values(double[] values) implements Init {}
}
