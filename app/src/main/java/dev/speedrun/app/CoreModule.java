package dev.speedrun.app;

import com.google.inject.AbstractModule;
import dev.speedrun.app.config.TrainConfig;
import dev.speedrun.losses.LossFunctions;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.schedules.RecordSchedules;
import dev.speedrun.schedules.ScheduleConfig;

/**
 * The trainer's core bindings: the configuration, the schedules, and every extension point with
 * its default (no hooks, next-token weights [1], soft-capped cross-entropy, plain weight decay).
 * Plugin modules are installed beside it and override the defaults.
 */
public final class CoreModule extends AbstractModule {
    private final TrainConfig config;

    public CoreModule(TrainConfig config) { this.config = config; }

    @Override protected void configure() {
        bind(TrainConfig.class).toInstance(config);
        bind(ScheduleConfig.class).toInstance(config.schedule());
        bind(RecordSchedules.class).toInstance(new RecordSchedules(config.schedule()));
        Extensions.hooks(binder());
        Extensions.decayPolicies(binder());
        Extensions.tokenWeights(binder()).setDefault().toInstance(step -> new double[] {1.0});
        Extensions.loss(binder()).setDefault().toInstance(LossFunctions.defaultLoss());
    }
}
