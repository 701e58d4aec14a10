package dev.speedrun.plugin;

import com.google.inject.AbstractModule;
import com.google.inject.Binder;
import com.google.inject.Guice;
import com.google.inject.Key;
import com.google.inject.Module;
import com.google.inject.TypeLiteral;
import com.google.inject.multibindings.Multibinder;
import com.google.inject.multibindings.OptionalBinder;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.schedules.TrainingHook;
import java.util.Set;

/**
 * The trainer's extension points, as Guice bindings a plugin module contributes to. The trainer's
 * core module declares the same binders with their defaults; a plugin calls these helpers from
 * its {@code configure()}:
 * <pre>{@code
 *   Extensions.hooks(binder()).addBinding().to(MyHook.class);
 *   Extensions.loss(binder()).setBinding().toInstance(new MyLoss());
 * }</pre>
 * The trainer also binds, for plugins to inject: {@code RecordSchedules} (the run's schedules)
 * and {@code ScheduleConfig}.
 */
public final class Extensions {
    private Extensions() {}

    /** Callbacks around the training loop; every contribution runs, in plugin order. */
    public static Multibinder<TrainingHook> hooks(Binder binder) {
        return Multibinder.newSetBinder(binder, TrainingHook.class);
    }

    /**
     * The training/eval loss; default: the record's soft-capped cross-entropy ("softcap-ce").
     * One plugin may replace it (e.g. a loss that masks some targets).
     */
    public static OptionalBinder<LossFunction> loss(Binder binder) {
        return OptionalBinder.newOptionalBinder(binder, LossFunction.class);
    }

    /** Multi-token weights per step; default {@code [1]}. One plugin may replace it. */
    public static OptionalBinder<TokenWeights> tokenWeights(Binder binder) {
        return OptionalBinder.newOptionalBinder(binder, TokenWeights.class);
    }

    /** Weight-decay masks per optimizer family; see {@link DecayPolicy#resolve}. */
    public static Multibinder<DecayPolicy> decayPolicies(Binder binder) {
        return Multibinder.newSetBinder(binder, DecayPolicy.class);
    }

    /**
     * The decay policies that {@code modules} (plugin modules) bind, as the trainer's injector
     * collects them: for a plugin's own tests, {@code DecayPolicy.resolve(Extensions.decayPoliciesOf(m), family)}.
     */
    public static Set<DecayPolicy> decayPoliciesOf(Module... modules) {
        return Guice.createInjector(new AbstractModule() {
            @Override protected void configure() {
                decayPolicies(binder());
                for (Module m : modules) install(m);
            }
        }).getInstance(Key.get(new TypeLiteral<Set<DecayPolicy>>() {}));
    }
}
