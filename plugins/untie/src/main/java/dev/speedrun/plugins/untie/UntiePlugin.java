package dev.speedrun.plugins.untie;

import com.google.inject.AbstractModule;
import com.google.inject.Module;
import com.google.inject.Provides;
import com.google.inject.Singleton;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.plugin.Plugin;
import dev.speedrun.schedules.ScheduleConfig;

/** Untie the LM head from the input embedding part-way through training (record 178: at 2/3). */
public final class UntiePlugin implements Plugin<UntieOptions> {
    public static final String NAME = "untie";

    @Override public String name() { return NAME; }

    @Override public String description() {
        return "untie lm_head and the input embedding at a fraction of training (2/3), copying weights and Adam state (record 178)";
    }

    @Override public Class<UntieOptions> optionsType() { return UntieOptions.class; }

    @Override public UntieOptions defaultOptions() { return UntieOptions.DEFAULT; }

    @Override public Module module(UntieOptions options) {
        return new AbstractModule() {
            @Override protected void configure() {
                Extensions.hooks(binder()).addBinding().to(UntieHook.class);
            }

            @Provides @Singleton UntieHook hook(ScheduleConfig schedule) {
                return new UntieHook(UntieSchedule.of(options, schedule.scheduledSteps()));
            }
        };
    }
}
