package dev.speedrun.plugins.untie;

import dev.speedrun.model.Parameter;
import dev.speedrun.schedules.TrainingContext;
import dev.speedrun.schedules.TrainingHook;

/**
 * Unties the input embedding from the LM head (record 178): after the optimizer step of
 * {@link UntieSchedule#copyAfterStep()} lm_head's weights and Adam state are copied into embed;
 * from {@link UntieSchedule#splitStep()} the lookup uses embed, which then trains on its own.
 */
public final class UntieHook implements TrainingHook {
    public static final String LM_HEAD = "lm_head.weight";
    public static final String EMBED = "embed.weight";

    private final UntieSchedule schedule;

    public UntieHook(UntieSchedule schedule) { this.schedule = schedule; }

    public UntieSchedule schedule() { return schedule; }

    @Override public void onRunStart(TrainingContext ctx) {
        // also right after a resume past the split
        ctx.setEmbeddingTied(!schedule.split(ctx.step()));
    }

    @Override public void onStepStart(TrainingContext ctx) {
        ctx.setEmbeddingTied(!schedule.split(ctx.step()));
    }

    @Override public void afterOptimizerStep(TrainingContext ctx) {
        if (ctx.step() != schedule.copyAfterStep()) return;
        Parameter head = ctx.parameters().get(LM_HEAD);
        Parameter embed = ctx.parameters().get(EMBED);
        if (!head.spec().shape().equals(embed.spec().shape()))
            throw new IllegalStateException("untie: " + LM_HEAD + " " + head.spec().shape() + " and " + EMBED + " "
                    + embed.spec().shape() + " differ in shape");
        embed.value().backend().copy(embed.value(), head.value());
        ctx.copyOptimizerState(LM_HEAD, EMBED);
    }
}
