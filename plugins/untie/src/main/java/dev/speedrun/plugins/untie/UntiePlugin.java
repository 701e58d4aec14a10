package dev.speedrun.plugins.untie;

import com.google.inject.Binder;
import com.google.inject.Provider;
import com.google.inject.Scopes;
import dev.speedrun.plugin.AbstractPlugin;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.schedules.ScheduleConfig;

/** Untie the LM head from the input embedding part-way through training (record 178: at 2/3). */
public final class UntiePlugin extends AbstractPlugin<UntieOptions> {
    public static final String NAME = "untie";

    public UntiePlugin() {
        super(NAME, "untie lm_head and the input embedding at a fraction of training (2/3), copying weights and Adam state (record 178)",
                UntieOptions.DEFAULT);
    }

    @Override protected void configure(Binder binder, UntieOptions options) {
        Provider<ScheduleConfig> schedule = binder.getProvider(ScheduleConfig.class);
        // one hook per injector: the split step comes from the run's schedule
        Extensions.hooks(binder).addBinding()
                .toProvider(() -> new UntieHook(UntieSchedule.of(options, schedule.get().scheduledSteps())))
                .in(Scopes.SINGLETON);
    }
}
