package dev.speedrun.schedules;

/**
 * The record's schedules (spec §3) as pure functions of the step. Phase boundaries use exact
 * integer arithmetic ({@code floor(P·step/N)}, {@code P·step > k·N}) so no step lands on the
 * wrong side of a boundary through rounding.
 */
public final class RecordSchedules {
    private final ScheduleConfig c;

    public RecordSchedules(ScheduleConfig config) { this.c = config; }

    public ScheduleConfig config() { return c; }

    public int totalSteps() { return c.totalSteps(); }

    /** Phase index floor(P·x), or P for the extension (step ≥ scheduled steps). */
    public int phase(int step) {
        if (step >= c.scheduledSteps()) return c.phases();
        return (int) ((long) c.phases() * step / c.scheduledSteps());
    }

    public boolean inExtension(int step) { return step >= c.scheduledSteps(); }

    /** Global tokens of one optimizer step. */
    public long batchTokens(int step) {
        int ph = phase(step);
        return ph == c.phases() ? c.extensionBatchTokens() : c.batchTokens().get(ph);
    }

    /** Training windows (the final validation uses {@link #finalValidationWindows()}). */
    public Windows windows(int step) {
        int ph = phase(step);
        return Windows.ofLong(ph == c.phases() ? c.extensionWindowLong() : c.windowLong().get(ph));
    }

    public Windows finalValidationWindows() { return new Windows(c.finalWindowShort(), c.finalWindowLong()); }

    /** Windows a validation at {@code step} runs with: the final window at the last step. */
    public Windows validationWindows(int step) {
        return step >= totalSteps() ? finalValidationWindows() : windows(step);
    }

    /** Learning-rate multiplier (applied to every optimizer's initial lr). */
    public double lrMultiplier(int step) {
        if (step >= c.scheduledSteps()) return c.minLrMult();
        int p = c.phases();
        int idx = 0;
        for (int k = 1; k < p; k++) if ((long) p * step > (long) k * c.scheduledSteps()) idx = k;
        double lrMax = c.lrMax().get(idx);
        double x = (double) step / c.scheduledSteps();
        if (x < 1 - c.cooldownFrac() || c.cooldownFrac() == 0) return lrMax;
        double w = (1 - x) / c.cooldownFrac();
        return lrMax * w + c.minLrMult() * (1 - w);
    }

    /** Muon momentum: linear warm-up, flat, linear cool-down over the last steps of the whole run. */
    public double muonMomentum(int step) {
        double lo = c.momentumMin(), hi = c.momentumMax();
        int coolStart = totalSteps() - c.momentumCooldownSteps();
        if (c.momentumCooldownSteps() > 0 && step > coolStart) {
            double f = Math.min(1.0, (double) (step - coolStart) / c.momentumCooldownSteps());
            return hi - f * (hi - lo);
        }
        if (c.momentumWarmupSteps() > 0 && step < c.momentumWarmupSteps()) {
            double f = (double) step / c.momentumWarmupSteps();
            return (1 - f) * lo + f * hi;
        }
        return hi;
    }

    /** True when the batch size or the windows differ from the previous step's. */
    public boolean isTransition(int step) {
        return step > 0 && (batchTokens(step) != batchTokens(step - 1) || !windows(step).equals(windows(step - 1)));
    }

    /** The scalar optimizer does not step (and the scalars' gradient is dropped) for this step. */
    public boolean scalarsFrozen(int step) {
        for (int s = step; s > step - c.transitionFreezeSteps() && s > 0; s--) if (isTransition(s)) return true;
        return false;
    }

    /** Adam steps on odd steps, on the gradient of this step and the previous one. */
    public boolean adamSteps(int step) { return (step & 1) == 1; }

    /** Validation runs before training step {@code step} (at 0, every valEvery, and at the end). */
    public boolean validateAt(int step) {
        if (step == totalSteps()) return true;
        return c.valEvery() > 0 && step % c.valEvery() == 0;
    }

    /** Schedules as {@link Schedule} objects, for hooks and plots. */
    public Schedule<Double> lrMultiplierSchedule() { return this::lrMultiplier; }

    public Schedule<Double> muonMomentumSchedule() { return this::muonMomentum; }

    public Schedule<Long> batchTokensSchedule() { return this::batchTokens; }

    public Schedule<Windows> windowsSchedule() { return this::windows; }
}
