package dev.speedrun.plugins.cwd;

import com.google.inject.Binder;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.plugin.AbstractPlugin;
import dev.speedrun.plugin.DecayPolicy;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.plugin.OptimizerFamily;

/** Cautious weight decay: decay only the elements whose update points the same way as the weight. */
public final class CwdPlugin extends AbstractPlugin<CwdOptions> {
    public static final String NAME = "cwd";
    /** Below adam-cwd-strict's, which refines cwd's Adam mask. */
    public static final int PRIORITY = 10;

    public CwdPlugin() {
        super(NAME, "cautious weight decay (mask update·param >= 0) for NorMuon and Adam (records 177, 178)", CwdOptions.DEFAULT);
    }

    @Override protected void configure(Binder binder, CwdOptions options) {
        var policies = Extensions.decayPolicies(binder);
        if (options.normuon()) policies.addBinding().toInstance(new DecayPolicy(OptimizerFamily.NORMUON, DecayMask.GE, PRIORITY, NAME));
        if (options.adam()) policies.addBinding().toInstance(new DecayPolicy(OptimizerFamily.ADAM, DecayMask.GE, PRIORITY, NAME));
    }
}
