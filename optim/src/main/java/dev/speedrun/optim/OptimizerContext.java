package dev.speedrun.optim;

import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.Ops;
import java.util.Objects;

/** What a provider needs besides its configuration: the ops, this rank's collectives, its decay rule. */
public record OptimizerContext(Ops ops, Collectives collectives, WeightDecayRule decayRule) {
    public OptimizerContext {
        Objects.requireNonNull(ops, "ops");
        Objects.requireNonNull(collectives, "collectives");
        Objects.requireNonNull(decayRule, "decay rule");
    }
}
