package dev.speedrun.plugin;

import static org.junit.jupiter.api.Assertions.*;

import com.google.inject.Binder;
import dev.speedrun.kernels.DecayMask;
import org.junit.jupiter.api.Test;

/** The short plugin form answers the {@link Plugin} SPI exactly as a hand-written implementation would. */
class AbstractPluginTest {
    record Opts(boolean adam, int priority) {}

    /** Contributes one Adam policy when {@code adam}, at the options' priority. */
    static final class Sample extends AbstractPlugin<Opts> {
        Sample(Opts defaults) { super("sample", "a sample plugin", defaults); }

        @Override protected void configure(Binder binder, Opts options) {
            var policies = Extensions.decayPolicies(binder);
            if (options.adam()) policies.addBinding().toInstance(new DecayPolicy(OptimizerFamily.ADAM, DecayMask.GT, options.priority(), name()));
        }
    }

    @Test void spiMethodsReturnWhatTheConstructorWasGiven() {
        Opts defaults = new Opts(true, 3);
        Plugin<Opts> p = new Sample(defaults);
        assertEquals("sample", p.name());
        assertEquals("a sample plugin", p.description());
        assertSame(Opts.class, p.optionsType());
        assertSame(defaults, p.defaultOptions());
    }

    @Test void moduleBindsForTheGivenOptions() {
        Sample p = new Sample(new Opts(false, 0));
        var on = Extensions.decayPoliciesOf(p.module(new Opts(true, 7)));
        assertEquals(1, on.size(), on.toString());
        DecayPolicy only = on.iterator().next();
        assertEquals(new DecayPolicy(OptimizerFamily.ADAM, DecayMask.GT, 7, "sample"), only);
        assertTrue(Extensions.decayPoliciesOf(p.module(p.defaultOptions())).isEmpty(), "defaults contribute nothing");
    }

    @Test void missingArgumentsAreNamed() {
        var ex = assertThrows(NullPointerException.class, () -> new Sample(null));
        assertEquals("defaultOptions", ex.getMessage());
        var ex2 = assertThrows(NullPointerException.class, () -> new Sample(new Opts(true, 1)).module(null));
        assertEquals("options", ex2.getMessage());
    }
}
