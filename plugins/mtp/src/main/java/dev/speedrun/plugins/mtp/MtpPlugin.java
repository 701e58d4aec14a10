package dev.speedrun.plugins.mtp;

import com.google.inject.Binder;
import com.google.inject.Provider;
import com.google.inject.Scopes;
import dev.speedrun.plugin.AbstractPlugin;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.schedules.ScheduleConfig;

/** Multi-token prediction (record 178): the loss also predicts the tokens 2 and 3 ahead, with decaying weights. */
public final class MtpPlugin extends AbstractPlugin<MtpOptions> {
    public static final String NAME = "mtp";

    public MtpPlugin() {
        super(NAME, "multi-token prediction loss: weights [1, 0.5, 0.25→0], then [1, 0.5→0], then [1] (record 178)",
                MtpOptions.record178());
    }

    @Override protected void configure(Binder binder, MtpOptions options) {
        Provider<ScheduleConfig> schedule = binder.getProvider(ScheduleConfig.class);
        // the phases are fractions of the run's scheduled steps
        Extensions.tokenWeights(binder).setBinding()
                .toProvider(() -> new MtpWeights(options, schedule.get().scheduledSteps()))
                .in(Scopes.SINGLETON);
    }
}
