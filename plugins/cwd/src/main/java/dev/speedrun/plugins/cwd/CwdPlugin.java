package dev.speedrun.plugins.cwd;

import com.google.inject.AbstractModule;
import com.google.inject.Module;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.plugin.DecayPolicy;
import dev.speedrun.plugin.OptimizerFamily;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.plugin.Plugin;

/** Cautious weight decay: decay only the elements whose update points the same way as the weight. */
public final class CwdPlugin implements Plugin<CwdOptions> {
    public static final String NAME = "cwd";
    /** Below adam-cwd-strict's, which refines cwd's Adam mask. */
    public static final int PRIORITY = 10;

    @Override public String name() { return NAME; }

    @Override public String description() {
        return "cautious weight decay (mask update·param >= 0) for NorMuon and Adam (records 177, 178)";
    }

    @Override public Class<CwdOptions> optionsType() { return CwdOptions.class; }

    @Override public CwdOptions defaultOptions() { return CwdOptions.DEFAULT; }

    @Override public Module module(CwdOptions options) {
        return new AbstractModule() {
            @Override protected void configure() {
                var policies = Extensions.decayPolicies(binder());
                if (options.normuon())
                    policies.addBinding().toInstance(new DecayPolicy(OptimizerFamily.NORMUON, DecayMask.GE, PRIORITY, NAME));
                if (options.adam())
                    policies.addBinding().toInstance(new DecayPolicy(OptimizerFamily.ADAM, DecayMask.GE, PRIORITY, NAME));
            }
        };
    }
}
