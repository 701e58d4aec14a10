package dev.speedrun.plugins.adamcwdstrict;

import com.google.inject.Binder;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.plugin.AbstractPlugin;
import dev.speedrun.plugin.DecayPolicy;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.plugin.NoOptions;
import dev.speedrun.plugin.OptimizerFamily;

/** Record 178's change to Adam's cautious mask: strictly positive update·param (was ≥ in record 177). */
public final class AdamCwdStrictPlugin extends AbstractPlugin<NoOptions> {
    public static final String NAME = "adam-cwd-strict";
    /** Above cwd's, so it wins for Adam whatever the plugin order. */
    public static final int PRIORITY = 20;

    public AdamCwdStrictPlugin() {
        super(NAME, "Adam's cautious weight-decay mask becomes update·param > 0 (record 178)", NoOptions.INSTANCE);
    }

    @Override protected void configure(Binder binder, NoOptions options) {
        Extensions.decayPolicies(binder).addBinding().toInstance(new DecayPolicy(OptimizerFamily.ADAM, DecayMask.GT, PRIORITY, NAME));
    }
}
