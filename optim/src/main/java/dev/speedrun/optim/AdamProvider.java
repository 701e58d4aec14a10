package dev.speedrun.optim;

import dev.speedrun.model.Parameter;
import java.util.List;

/** ServiceLoader provider of {@link Adam} ("adam"). */
public final class AdamProvider implements OptimizerProvider {
    @Override public String name() { return "adam"; }

    @Override public Optimizer create(OptimizerConfig config, List<Parameter> params, OptimizerContext context) {
        return new Adam(config, params, context);
    }
}
