package dev.speedrun.optim;

import dev.speedrun.model.Parameter;
import java.util.List;

/** SPI (ServiceLoader): makes optimizers of one type ("adam", "normuon"). */
public interface OptimizerProvider {
    /** The type name configurations use. */
    String name();

    /** An instance over {@code params} (already routed by label, table order). */
    Optimizer create(OptimizerConfig config, List<Parameter> params, OptimizerContext context);
}
