package dev.speedrun.app;

import com.google.inject.Injector;
import com.google.inject.Key;
import com.google.inject.TypeLiteral;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.plugin.DecayPolicy;
import dev.speedrun.plugin.OptimizerFamily;
import dev.speedrun.plugin.TokenWeights;
import dev.speedrun.schedules.RecordSchedules;
import dev.speedrun.schedules.TrainingHook;
import java.util.List;
import java.util.Set;

/**
 * What the {@link Trainer} is made of besides the configuration: the schedules and what the
 * plugins bind at the extension points (defaults in {@link CoreModule}).
 *
 * @param normuonMask which matrices NorMuon decays (the decay policies resolved)
 * @param adamMask    which parameters Adam decays
 */
record TrainingParts(RecordSchedules schedules, List<TrainingHook> hooks, LossFunction loss, TokenWeights tokenWeights,
                     DecayMask normuonMask, DecayMask adamMask) {
    TrainingParts {
        hooks = List.copyOf(hooks);
    }

    /** The parts bound by {@link CoreModule} and the selected plugins' modules. */
    static TrainingParts of(Injector injector) {
        Set<DecayPolicy> policies = injector.getInstance(Key.get(new TypeLiteral<Set<DecayPolicy>>() {}));
        return new TrainingParts(injector.getInstance(RecordSchedules.class),
                List.copyOf(injector.getInstance(Key.get(new TypeLiteral<Set<TrainingHook>>() {}))),
                injector.getInstance(LossFunction.class), injector.getInstance(TokenWeights.class),
                DecayPolicy.resolve(policies, OptimizerFamily.NORMUON), DecayPolicy.resolve(policies, OptimizerFamily.ADAM));
    }
}
