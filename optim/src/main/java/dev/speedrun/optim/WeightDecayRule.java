package dev.speedrun.optim;

import dev.speedrun.kernels.DecayMask;

/**
 * How weight decay is applied, chosen per optimizer instance by name
 * ({@link OptimizerConfig#decayRule()}). The coefficient is the optimizer's (wd·wd_mul·lr·lr_eff);
 * the rule decides which elements it touches, as a function of the sign of update·param, so
 * every backend runs it inside the fused update kernel. The core has "decoupled" (every element);
 * the cautious rules (≥ for cwd, > for adam-cwd-strict) come from plugins, registered with
 * ServiceLoader or handed to {@link WeightDecayRules#with}.
 */
public interface WeightDecayRule {
    String name();

    DecayMask mask();

    /** A rule from a name and a mask (plugins and tests). */
    static WeightDecayRule of(String name, DecayMask mask) {
        record Simple(String name, DecayMask mask) implements WeightDecayRule {}
        return new Simple(name, mask);
    }
}
