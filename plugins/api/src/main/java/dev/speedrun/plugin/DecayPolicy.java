package dev.speedrun.plugin;

import dev.speedrun.kernels.DecayMask;
import java.util.Collection;
import java.util.Objects;

/**
 * A plugin's choice of weight-decay mask for one optimizer family. Several plugins may speak for
 * the same family (cwd says "Adam: cautious ≥", adam-cwd-strict says "Adam: cautious >"); the
 * policy with the highest priority wins, so the result does not depend on plugin order. Without
 * any policy a family decays every element ({@link DecayMask#ALL}).
 *
 * @param optimizer {@link #NORMUON} or {@link #ADAM}
 * @param mask      the mask to use
 * @param priority  larger wins; ties between different masks are an error
 * @param source    the plugin that asked for it (for messages and the run's config.yaml)
 */
public record DecayPolicy(String optimizer, DecayMask mask, int priority, String source) {
    public static final String NORMUON = "normuon";
    public static final String ADAM = "adam";

    public DecayPolicy {
        Objects.requireNonNull(mask, "mask");
        if (!NORMUON.equals(optimizer) && !ADAM.equals(optimizer))
            throw new IllegalArgumentException("DecayPolicy optimizer must be '" + NORMUON + "' or '" + ADAM + "', got '" + optimizer + "'");
    }

    /** The mask for {@code optimizer} given all contributed policies. */
    public static DecayMask resolve(Collection<DecayPolicy> policies, String optimizer) {
        DecayPolicy best = null;
        for (DecayPolicy p : policies) {
            if (!p.optimizer().equals(optimizer)) continue;
            if (best == null || p.priority() > best.priority()) best = p;
            else if (p.priority() == best.priority() && p.mask() != best.mask())
                throw new IllegalStateException("conflicting weight-decay masks for " + optimizer + ": " + best.source() + " wants "
                        + best.mask() + ", " + p.source() + " wants " + p.mask() + " at the same priority " + p.priority());
        }
        return best == null ? DecayMask.ALL : best.mask();
    }
}
