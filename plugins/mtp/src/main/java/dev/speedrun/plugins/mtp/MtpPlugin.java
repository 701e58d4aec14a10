package dev.speedrun.plugins.mtp;

import com.google.inject.AbstractModule;
import com.google.inject.Module;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.plugin.Plugin;
import dev.speedrun.plugin.TokenWeights;
import dev.speedrun.schedules.ScheduleConfig;

/** Multi-token prediction (record 178): the loss also predicts the tokens 2 and 3 ahead, with decaying weights. */
public final class MtpPlugin implements Plugin<MtpOptions> {
    public static final String NAME = "mtp";

    @Override public String name() { return NAME; }

    @Override public String description() {
        return "multi-token prediction loss: weights [1, 0.5, 0.25→0], then [1, 0.5→0], then [1] (record 178)";
    }

    @Override public Class<MtpOptions> optionsType() { return MtpOptions.class; }

    @Override public MtpOptions defaultOptions() { return MtpOptions.record178(); }

    @Override public Module module(MtpOptions options) {
        return new AbstractModule() {
            @Override protected void configure() {
                Extensions.tokenWeights(binder()).setBinding().to(MtpWeights.class);
            }

            @Provides @Singleton MtpWeights weights(ScheduleConfig schedule) {
                return new MtpWeights(options, schedule.scheduledSteps());
            }
        };
    }
}
