package dev.speedrun.optim;

import dev.speedrun.kernels.DecayMask;

/** Plain decoupled weight decay (AdamW style): every element decays. The default rule. */
public final class DecoupledDecay implements WeightDecayRule {
    public static final String NAME = "decoupled";

    @Override public String name() { return NAME; }

    @Override public DecayMask mask() { return DecayMask.ALL; }
}
