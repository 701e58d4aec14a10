package dev.speedrun.optim;

import java.util.Set;

/**
 * What the trainer tells the optimizers at one step (the schedules of spec §3 are evaluated by the
 * caller; the optimizers hold no schedule).
 *
 * @param step         the training step index (0-based)
 * @param lrMultiplier multiplies every optimizer's initial lr
 * @param muonMomentum NorMuon momentum for this step
 * @param adamStep     whether Adam instances step now (the record: odd steps); when false their
 *                     gradients are kept and the next backward adds to them
 * @param frozen       names of optimizer instances that do not step this step and whose
 *                     gradients are discarded (the scalars optimizer after a transition)
 */
public record StepPlan(long step, double lrMultiplier, double muonMomentum, boolean adamStep, Set<String> frozen) {
    public StepPlan {
        frozen = frozen == null ? Set.of() : Set.copyOf(frozen);
        if (step < 0) throw new IllegalArgumentException("step must be >= 0, got " + step);
        if (!(lrMultiplier >= 0)) throw new IllegalArgumentException("lr multiplier must be >= 0, got " + lrMultiplier);
        if (!(muonMomentum >= 0 && muonMomentum < 1))
            throw new IllegalArgumentException("muon momentum must be in [0, 1), got " + muonMomentum);
    }

    /** The record's plan: Adam steps on odd steps. */
    public static StepPlan record(long step, double lrMultiplier, double muonMomentum, Set<String> frozen) {
        return new StepPlan(step, lrMultiplier, muonMomentum, (step & 1) == 1, frozen);
    }
}
