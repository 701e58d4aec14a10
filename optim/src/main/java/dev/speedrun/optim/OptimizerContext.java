package dev.speedrun.optim;

import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.Ops;
import java.util.Objects;

/** What a provider needs besides its configuration: the ops and this rank's collectives. */
public record OptimizerContext(Ops ops, Collectives collectives) {
    public OptimizerContext {
        Objects.requireNonNull(ops, "ops");
        Objects.requireNonNull(collectives, "collectives");
    }
}
