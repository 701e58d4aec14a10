package dev.speedrun.schedules;

import java.util.List;

/**
 * The numbers behind the record's schedules (spec §3). Training has {@code scheduledSteps} steps
 * split into {@code batchTokens.size()} equal phases by {@code x = step / scheduledSteps}, followed by
 * {@code extensionSteps} steps at {@code extensionBatchTokens} / {@code extensionWindowLong}.
 *
 * @param scheduledSteps        steps of the scheduled part (1880)
 * @param extensionSteps        steps after it (40); total = scheduled + extension
 * @param batchTokens           global tokens per step for each phase (phase = floor(P·x))
 * @param extensionBatchTokens  tokens per step in the extension
 * @param windowLong            long window (blocks) per phase; short = long // 2
 * @param extensionWindowLong   long window of the extension
 * @param finalWindowLong       long window of the final validation (no YaRN update for it)
 * @param finalWindowShort      short window of the final validation
 * @param lrMax                 peak lr multiplier per phase, switched when x &gt; k/P
 * @param cooldownFrac          fraction of the schedule spent cooling down (0.55: from x ≥ 0.45)
 * @param minLrMult             lr multiplier at the end of the cooldown and in the extension
 * @param momentumMin           Muon momentum at step 0 and at the very end
 * @param momentumMax           Muon momentum after the warm-up
 * @param momentumWarmupSteps   steps of the linear warm-up
 * @param momentumCooldownSteps last steps (of the total) of the linear cool-down
 * @param transitionFreezeSteps steps the scalar optimizer is frozen after a batch/window change
 * @param valEvery              validate every this many steps (and at the end); 0 = only at the end
 */
public record ScheduleConfig(
        int scheduledSteps, int extensionSteps,
        List<Long> batchTokens, long extensionBatchTokens,
        List<Integer> windowLong, int extensionWindowLong, int finalWindowLong, int finalWindowShort,
        List<Double> lrMax, double cooldownFrac, double minLrMult,
        double momentumMin, double momentumMax, int momentumWarmupSteps, int momentumCooldownSteps,
        int transitionFreezeSteps, int valEvery) {

    public ScheduleConfig {
        if (scheduledSteps <= 0) throw new IllegalArgumentException("schedule.scheduled_steps must be > 0, got " + scheduledSteps);
        if (extensionSteps < 0) throw new IllegalArgumentException("schedule.extension_steps must be ≥ 0, got " + extensionSteps);
        if (batchTokens == null || batchTokens.isEmpty()) throw new IllegalArgumentException("schedule.batch_tokens must list one value per phase");
        if (windowLong == null || windowLong.size() != batchTokens.size())
            throw new IllegalArgumentException("schedule.window_long must have one value per phase (" + batchTokens.size() + "), got " + windowLong);
        if (lrMax == null || lrMax.size() != batchTokens.size())
            throw new IllegalArgumentException("schedule.lr_max must have one value per phase (" + batchTokens.size() + "), got " + lrMax);
        if (cooldownFrac < 0 || cooldownFrac > 1) throw new IllegalArgumentException("schedule.cooldown_frac must be in [0, 1], got " + cooldownFrac);
        batchTokens = List.copyOf(batchTokens);
        windowLong = List.copyOf(windowLong);
        lrMax = List.copyOf(lrMax);
    }

    public int totalSteps() { return scheduledSteps + extensionSteps; }

    public int phases() { return batchTokens.size(); }
}
