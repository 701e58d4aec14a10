package dev.speedrun.plugin;

import dev.speedrun.kernels.DecayMask;
import java.util.Collection;
import java.util.Locale;
import java.util.Objects;

/**
 * A plugin's choice of weight-decay mask for one optimizer family, contributed through
 * {@link Extensions#decayPolicies}. Several plugins may speak for the same family (cwd says
 * "Adam: cautious ≥", adam-cwd-strict says "Adam: cautious >"); the policy with the highest
 * priority wins, so the result does not depend on plugin order. Without any policy a family
 * decays every element ({@link DecayMask#ALL}). The trainer puts the winning mask on the family's
 * optimizer configurations ({@code OptimizerConfig.decayMask}).
 *
 * @param optimizer the family the mask applies to
 * @param mask      the mask to use
 * @param priority  larger wins; ties between different masks are an error
 * @param source    the plugin that asked for it (for messages)
 */
public record DecayPolicy(OptimizerFamily optimizer, DecayMask mask, int priority, String source) {
    public DecayPolicy {
        Objects.requireNonNull(optimizer, "optimizer");
        Objects.requireNonNull(mask, "mask");
    }

    /** The mask for {@code optimizer} given all contributed policies. */
    public static DecayMask resolve(Collection<DecayPolicy> policies, OptimizerFamily optimizer) {
        DecayPolicy best = null;
        for (DecayPolicy p : policies) {
            if (p.optimizer() != optimizer) continue;
            if (best == null || p.priority() > best.priority()) best = p;
            else if (p.priority() == best.priority() && p.mask() != best.mask())
                throw new IllegalStateException("conflicting weight-decay masks for " + optimizer.name().toLowerCase(Locale.ROOT) + ": " + best.source() + " wants "
                        + best.mask() + ", " + p.source() + " wants " + p.mask() + " at the same priority " + p.priority());
        }
        return best == null ? DecayMask.ALL : best.mask();
    }
}
