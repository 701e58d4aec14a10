package dev.speedrun.optim;

import dev.speedrun.model.Parameter;
import java.util.List;

/** ServiceLoader provider of {@link NorMuon} ("normuon"). */
public final class NorMuonProvider implements OptimizerProvider {
    @Override public String name() { return "normuon"; }

    @Override public Optimizer create(OptimizerConfig config, List<Parameter> params, OptimizerContext context) {
        return new NorMuon(config, params, context);
    }
}
