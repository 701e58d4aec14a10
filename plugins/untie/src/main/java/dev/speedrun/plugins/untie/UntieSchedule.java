package dev.speedrun.plugins.untie;

/**
 * When the embedding is untied (spec §3): from {@link #splitStep()} the lookup uses
 * {@code embed.weight}; after the optimizer step of {@link #copyAfterStep()} =
 * {@code (split − 2) | 1} (the last odd step before the split, so Adam has just stepped)
 * lm_head and its Adam state are copied into embed.
 */
public record UntieSchedule(int splitStep) {
    public static UntieSchedule of(UntieOptions options, int scheduledSteps) {
        // the small epsilon keeps e.g. 3 · (1/3) from ceiling to 2
        return new UntieSchedule((int) Math.ceil(scheduledSteps * options.fraction() - 1e-9));
    }

    public int copyAfterStep() { return (splitStep - 2) | 1; }

    public boolean split(int step) { return step >= splitStep; }
}
