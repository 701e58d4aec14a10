package dev.speedrun.app;

import dev.speedrun.data.Batch;
import dev.speedrun.data.TrainBatcher;
import dev.speedrun.kernels.Collectives;
import dev.speedrun.model.Gpt;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.optim.StepPlan;
import dev.speedrun.schedules.RecordSchedules;
import dev.speedrun.schedules.TrainingHook;
import dev.speedrun.schedules.Windows;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Set;

/**
 * One training step of one rank (spec §3, §5): hooks {@code onStepStart}; {@code gradAccum}
 * micro-batches, each forward+backward with the step's windows and multi-token weights and
 * gradient scale 1/gradAccum; hooks {@code afterBackward}; the finite guard's gradient sums; the
 * optimizers (the scalar optimizer frozen after transitions); hooks {@code afterOptimizerStep};
 * the loss reduced over the ranks. The last micro-batch's backward tells the optimizers each
 * gradient as it becomes final ({@link Optimizers#gradientListener}), so on several ranks their
 * collectives start during the backward (on a GPU: on the communication stream, overlapped with
 * the rest of the backward); the {@code afterBackward} hooks and the guard therefore may see
 * gradients of the stepping optimizers partly averaged already (the guard is not affected: a
 * non-finite value stays non-finite).
 *
 * <p>The host never waits for the device inside a step but once, at its end. Everything the step
 * reports lives in one statistics tensor ({@link #slots}): the micro-batches' losses summed on the
 * device ({@link Gpt#forwardBackward(int[], int[], int[], int, int,
 * dev.speedrun.losses.LossFunction, double[], double, Tensor)}), the step's token count and rank
 * 0's stop request (asynchronous uploads, several ranks only), and the {@link FiniteGuard}'s
 * per-parameter gradient sums. The ranks all-reduce it on the device, and one readback returns it
 * all.
 */
final class TrainStep {
    /**
     * What a step did, summed over the ranks: mean training loss per token, tokens, and whether rank
     * 0 was asked to stop (Ctrl-C) by the end of the step, the same answer on every rank.
     */
    record Outcome(double trainLoss, long tokens, boolean stopRequested) {}

    /** Slots of the statistics tensor before the guard's: the loss sum, the tokens, the stop request. */
    static final int LOSS = 0, TOKENS = 1, STOP = 2, GUARD = 3;

    private final TrainingParts parts;
    private final Gpt model;
    private final Optimizers opt;
    private final Collectives comm;
    /** [{@link #slots}] in the model's statistics dtype: see the class comment and {@link #LOSS}. */
    private final Tensor sums;
    private final FiniteGuard guard;
    /** The tokens and the stop request, staged for their upload (several ranks). */
    private final MemorySegment uploadHost = Arena.ofAuto().allocate(16, 8);
    private final int gradAccum;
    private final int maxSeqLen;

    /** Length of the statistics tensor a step with {@code guard} needs. */
    static int slots(FiniteGuard guard) { return GUARD + guard.slots(); }

    /** {@code sums} is a [{@link #slots}] tensor of the rank in {@code model.precision().statistics()} dtype (see the class comment). */
    TrainStep(TrainingParts parts, Gpt model, Optimizers opt, Collectives comm, FiniteGuard guard, Tensor sums, int gradAccum, int maxSeqLen) {
        if (sums.numel() != slots(guard) || sums.dtype() != model.precision().statistics())
            throw new IllegalArgumentException("TrainStep needs a [" + slots(guard) + "] " + model.precision().statistics() + " tensor, got " + sums);
        this.guard = guard;
        this.parts = parts;
        this.model = model;
        this.opt = opt;
        this.comm = comm;
        this.sums = sums;
        this.gradAccum = gradAccum;
        this.maxSeqLen = maxSeqLen;
    }

    /** Trains step {@code ctx.step()} on the next batches of {@code train}. */
    Outcome run(RankContext ctx, TrainBatcher train) {
        int step = ctx.step();
        RecordSchedules sched = parts.schedules();
        for (TrainingHook h : parts.hooks()) h.onStepStart(ctx);
        Windows w = sched.windows(step);
        double[] mtp = parts.tokenWeights().at(step);
        long batchTokens = sched.batchTokens(step);
        long stepTokens = 0;
        model.ops().fill(sums, 0);
        Tensor lossSum = sums.view(LOSS, 1);
        // the schedules are pure functions of the step: the plan is known before the backward, whose
        // last micro-batch starts the gradients' collectives as they become final (docs/optim.md)
        Set<String> frozen = sched.scalarsFrozen(step) ? Set.of(RecordOptimizers.ADAM_SCALARS) : Set.of();
        StepPlan plan = new StepPlan(step, sched.lrMultiplier(step), sched.muonMomentum(step), sched.adamSteps(step), frozen);
        for (int micro = 0; micro < gradAccum; micro++) {
            Batch b = train.next(batchTokens, gradAccum, maxSeqLen);
            if (micro > 0) model.reuseWorkingCopies();   // parameters change only between steps
            boolean last = micro == gradAccum - 1;
            if (last) model.setGradientListener(opt.gradientListener(plan));
            try {
                // a micro-step's launches as one replayable segment (after its input uploads): on CUDA an
                // identical earlier micro-step is replayed as one graph (docs/cuda.md, "CUDA graphs"); the
                // last one's collectives, started from the gradient listener, end segments where they start
                model.ops().backend().replayable(() -> model.forwardBackward(b.inputs(), b.targets(), b.cuSeqlens(), w.shortBlocks(),
                        w.longBlocks(), parts.loss(), mtp, 1.0 / gradAccum, lossSum));
            } finally {
                if (last) model.setGradientListener(null);
            }
            stepTokens += b.size();
        }
        for (TrainingHook h : parts.hooks()) h.afterBackward(ctx);
        // after the plugins' hooks: the gradients checked are those the optimizer gets
        guard.sumGradients(sums.view(GUARD, guard.slots()));
        opt.step(plan);
        for (TrainingHook h : parts.hooks()) h.afterOptimizerStep(ctx);
        return reduce(step, stepTokens);
    }

    /**
     * The step's one host wait: with several ranks the tokens and rank 0's stop request join the
     * statistics on the device and all of it is summed over the ranks there (exact for F32
     * statistics up to 2^24 tokens a step); then one readback, and the guard's verdict.
     */
    private Outcome reduce(int step, long stepTokens) {
        double[] s;
        boolean stop;
        if (comm.worldSize() == 1) {
            s = HostData.toDoubles(sums);
            stop = Interrupts.requested();
        } else {
            HostData.store(uploadHost, sums.dtype(), 0, stepTokens);
            HostData.store(uploadHost, sums.dtype(), 1, comm.rank() == 0 && Interrupts.requested() ? 1 : 0);
            sums.backend().copyFromHostAsync(sums.view(TOKENS, 2), uploadHost);
            comm.allReduce(sums, Collectives.Reduce.SUM);
            s = HostData.toDoubles(sums);
            stepTokens = (long) s[TOKENS];
            stop = s[STOP] > 0;
        }
        guard.check(step, s, GUARD);
        return new Outcome(s[LOSS] / stepTokens, stepTokens, stop);
    }

    /** Sums two numbers over the ranks. */
    static double[] allSum(Collectives comm, Tensor red, double a, double b) {
        if (comm.worldSize() == 1) return new double[] {a, b};
        HostData.write(red, new double[] {a, b});
        comm.allReduce(red, Collectives.Reduce.SUM);
        return HostData.toDoubles(red);
    }
}
