package dev.speedrun.plugins.untie;

/**
 * Options of the untie plugin.
 * @param fraction where in the scheduled steps the embedding is split from lm_head:
 *                 split_step = ceil(scheduled_steps · fraction) (2/3 in record 178 → 1254)
 */
public record UntieOptions(double fraction) {
    public UntieOptions {
        if (!(fraction > 0 && fraction <= 1))
            throw new IllegalArgumentException("plugin_options.untie.fraction must be in (0, 1], got " + fraction);
    }

    public static final UntieOptions DEFAULT = new UntieOptions(2.0 / 3.0);
}
