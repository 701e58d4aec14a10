package dev.speedrun.plugins.adamcwdstrict;

import com.google.inject.AbstractModule;
import com.google.inject.Module;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.plugin.DecayPolicy;
import dev.speedrun.plugin.OptimizerFamily;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.plugin.NoOptions;
import dev.speedrun.plugin.Plugin;

/** Record 178's change to Adam's cautious mask: strictly positive update·param (was ≥ in record 177). */
public final class AdamCwdStrictPlugin implements Plugin<NoOptions> {
    public static final String NAME = "adam-cwd-strict";
    /** Above cwd's, so it wins for Adam whatever the plugin order. */
    public static final int PRIORITY = 20;

    @Override public String name() { return NAME; }

    @Override public String description() {
        return "Adam's cautious weight-decay mask becomes update·param > 0 (record 178)";
    }

    @Override public Class<NoOptions> optionsType() { return NoOptions.class; }

    @Override public NoOptions defaultOptions() { return NoOptions.INSTANCE; }

    @Override public Module module(NoOptions options) {
        return new AbstractModule() {
            @Override protected void configure() {
                Extensions.decayPolicies(binder()).addBinding()
                        .toInstance(new DecayPolicy(OptimizerFamily.ADAM, DecayMask.GT, PRIORITY, NAME));
            }
        };
    }
}
