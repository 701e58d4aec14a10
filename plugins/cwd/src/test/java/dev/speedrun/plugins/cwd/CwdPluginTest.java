package dev.speedrun.plugins.cwd;

import static org.junit.jupiter.api.Assertions.*;

import com.google.inject.AbstractModule;
import com.google.inject.Guice;
import com.google.inject.Key;
import com.google.inject.TypeLiteral;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.plugin.DecayPolicy;
import dev.speedrun.plugin.OptimizerFamily;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.plugin.Plugin;
import java.util.ServiceLoader;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CwdPluginTest {
    static Set<DecayPolicy> policies(com.google.inject.Module... plugins) {
        return Guice.createInjector(new AbstractModule() {
            @Override protected void configure() {
                Extensions.decayPolicies(binder());
                for (var m : plugins) install(m);
            }
        }).getInstance(Key.get(new TypeLiteral<Set<DecayPolicy>>() {}));
    }

    @Test void withoutCwdBothOptimizersDecayEverything() {
        var p = policies();
        assertEquals(DecayMask.ALL, DecayPolicy.resolve(p, OptimizerFamily.NORMUON));
        assertEquals(DecayMask.ALL, DecayPolicy.resolve(p, OptimizerFamily.ADAM));
    }

    @Test void cwdMakesBothCautiousGe() {
        var p = policies(new CwdPlugin().module(CwdOptions.DEFAULT));
        assertEquals(DecayMask.GE, DecayPolicy.resolve(p, OptimizerFamily.NORMUON));
        assertEquals(DecayMask.GE, DecayPolicy.resolve(p, OptimizerFamily.ADAM));
    }

    @Test void optionsSelectTheOptimizers() {
        var p = policies(new CwdPlugin().module(new CwdOptions(true, false)));
        assertEquals(DecayMask.GE, DecayPolicy.resolve(p, OptimizerFamily.NORMUON));
        assertEquals(DecayMask.ALL, DecayPolicy.resolve(p, OptimizerFamily.ADAM));
    }

    @Test void conflictingPoliciesAtOnePriorityAreAnError() {
        var a = new DecayPolicy(OptimizerFamily.ADAM, DecayMask.GE, 1, "a");
        var b = new DecayPolicy(OptimizerFamily.ADAM, DecayMask.GT, 1, "b");
        var ex = assertThrows(IllegalStateException.class, () -> DecayPolicy.resolve(java.util.List.of(a, b), OptimizerFamily.ADAM));
        assertTrue(ex.getMessage().contains("a") && ex.getMessage().contains("b"));
    }

    @Test void registeredWithServiceLoader() {
        var names = ServiceLoader.load(Plugin.class).stream().map(p -> p.get().name()).toList();
        assertTrue(names.contains(CwdPlugin.NAME), names.toString());
    }
}
