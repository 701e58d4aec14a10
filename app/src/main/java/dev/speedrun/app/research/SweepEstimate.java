package dev.speedrun.app.research;

import dev.speedrun.schedules.RecordSchedules;
import java.util.Arrays;
import java.util.List;
import java.util.PriorityQueue;

/**
 * The sweep's time model: a run of a sweep takes {@code secPerToken} seconds per training token
 * (batch sizes grow over the schedule, so tokens, not steps, carry the cost) plus
 * {@code secPerValidation} per validation. Before any run has finished the two come from a short
 * calibration (a few steps of the first run: the training clock after its first step, which
 * holds the JIT warm-up, over the tokens trained; the wall time outside the clock, set-up
 * included, over the validations it ran); once runs have finished, from their wall time over the
 * tokens they trained. The sweep's remaining time is the makespan of the runs left on the
 * parallel slots, in plan order, each run on the slot that frees first.
 *
 * @param secPerToken      seconds per training token (global, all ranks)
 * @param secPerValidation seconds per validation (0 when folded into the per-token rate)
 * @param source           where the rate comes from, for the plan ("from the finished runs")
 */
record SweepEstimate(double secPerToken, double secPerValidation, String source) {

    /** No estimate yet (nothing finished, no calibration). */
    static final SweepEstimate NONE = new SweepEstimate(Double.NaN, Double.NaN, "known after the first run");

    boolean known() { return Double.isFinite(secPerToken); }

    /** Seconds a run takes from step {@code from} to {@code to} (steps done) under {@code sched}. */
    double seconds(RecordSchedules sched, int from, int to) {
        return secPerToken * trainTokens(sched, from, to) + secPerValidation * validations(sched, from, to);
    }

    /** The rate of finished runs: their wall seconds over the tokens they trained. */
    static SweepEstimate fromFinished(double wallSeconds, long tokens) {
        return tokens <= 0 ? NONE : new SweepEstimate(wallSeconds / tokens, 0, "from the finished runs");
    }

    /**
     * The rate of a calibration run: {@code trainMs} and {@code trainTokens} of its steps after
     * the first (training clock, cumulative tokens), {@code outsideS} the wall seconds outside the
     * training clock and {@code validations} how many it ran.
     */
    static SweepEstimate fromCalibration(double trainMs, long trainTokens, double outsideS, int validations, String source) {
        if (trainTokens <= 0 || !(trainMs > 0)) return NONE;
        return new SweepEstimate(trainMs / 1000 / trainTokens, Math.max(0, outsideS) / Math.max(1, validations), source);
    }

    /** Global training tokens of steps {@code from} .. {@code to − 1}. */
    static long trainTokens(RecordSchedules sched, int from, int to) {
        long t = 0;
        for (int s = from; s < to; s++) t += sched.batchTokens(s);
        return t;
    }

    /** Validations a run does from step {@code from} to {@code to} (steps done): at 0, every val_every, and at its end. */
    static int validations(RecordSchedules sched, int from, int to) {
        int n = 0;
        for (int s = from; s <= to; s++) if (sched.validateAt(s) || s == to) n++;
        return n;
    }

    /**
     * The time until all work is done on {@code slots} parallel slots: {@code busy} are the
     * remaining seconds of the runs in progress (one slot each), {@code queued} the runs still to
     * start, in order, each taken by the slot that frees first.
     */
    static double makespan(List<Double> busy, List<Double> queued, int slots) {
        PriorityQueue<Double> free = new PriorityQueue<>();
        for (double b : busy) free.add(Math.max(0, b));
        while (free.size() < slots) free.add(0.0);
        for (double q : queued) free.add(free.poll() + q);
        double[] ends = free.stream().mapToDouble(Double::doubleValue).toArray();
        return Arrays.stream(ends).max().orElse(0);
    }
}
