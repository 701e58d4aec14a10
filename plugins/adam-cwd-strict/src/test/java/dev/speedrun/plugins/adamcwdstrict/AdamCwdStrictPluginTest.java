package dev.speedrun.plugins.adamcwdstrict;

import static org.junit.jupiter.api.Assertions.*;

import com.google.inject.AbstractModule;
import com.google.inject.Guice;
import com.google.inject.Key;
import com.google.inject.TypeLiteral;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.plugin.DecayPolicy;
import dev.speedrun.plugin.OptimizerFamily;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.plugin.NoOptions;
import dev.speedrun.plugin.Plugin;
import java.util.ServiceLoader;
import java.util.Set;
import org.junit.jupiter.api.Test;

class AdamCwdStrictPluginTest {
    /** What cwd contributes (this module does not depend on cwd): cautious ≥ at a lower priority. */
    static final com.google.inject.Module CWD_LIKE = new AbstractModule() {
        @Override protected void configure() {
            Extensions.decayPolicies(binder()).addBinding().toInstance(new DecayPolicy(OptimizerFamily.ADAM, DecayMask.GE, 10, "cwd"));
            Extensions.decayPolicies(binder()).addBinding().toInstance(new DecayPolicy(OptimizerFamily.NORMUON, DecayMask.GE, 10, "cwd"));
        }
    };

    static Set<DecayPolicy> policies(com.google.inject.Module... plugins) {
        return Guice.createInjector(new AbstractModule() {
            @Override protected void configure() {
                Extensions.decayPolicies(binder());
                for (var m : plugins) install(m);
            }
        }).getInstance(Key.get(new TypeLiteral<Set<DecayPolicy>>() {}));
    }

    @Test void strictChangesOnlyAdamsMask() {
        var strict = new AdamCwdStrictPlugin().module(NoOptions.INSTANCE);
        for (var p : new Set[] {policies(CWD_LIKE, strict), policies(strict, CWD_LIKE)}) {
            @SuppressWarnings("unchecked") Set<DecayPolicy> ps = p;
            assertEquals(DecayMask.GT, DecayPolicy.resolve(ps, OptimizerFamily.ADAM), "order must not matter");
            assertEquals(DecayMask.GE, DecayPolicy.resolve(ps, OptimizerFamily.NORMUON));
        }
        var off = policies(CWD_LIKE);
        assertEquals(DecayMask.GE, DecayPolicy.resolve(off, OptimizerFamily.ADAM));
    }

    @Test void registeredWithServiceLoader() {
        var names = ServiceLoader.load(Plugin.class).stream().map(p -> p.get().name()).toList();
        assertTrue(names.contains(AdamCwdStrictPlugin.NAME), names.toString());
    }
}
