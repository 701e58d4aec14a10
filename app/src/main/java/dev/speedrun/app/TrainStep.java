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
 * gradient scale 1/gradAccum; hooks {@code afterBackward}; the optimizers (the scalar optimizer
 * frozen after transitions); hooks {@code afterOptimizerStep}; the loss reduced over the ranks.
 *
 * <p>The host never waits for the device inside a step but once: the micro-batches' losses are
 * summed on the device ({@link Gpt#forwardBackward(int[], int[], int[], int, int,
 * dev.speedrun.losses.LossFunction, double[], double, Tensor)}), the step's token count joins
 * them in the same [2] tensor (an asynchronous upload), the ranks reduce it on the device, and
 * the one readback at the end of the step returns both.
 */
final class TrainStep {
    /** What a step did, summed over the ranks: mean training loss per token, and tokens. */
    record Outcome(double trainLoss, long tokens) {}

    private final TrainingParts parts;
    private final Gpt model;
    private final Optimizers opt;
    private final Collectives comm;
    /** [2] in the model's statistics dtype: the step's summed loss, then its tokens. */
    private final Tensor sums;
    private final MemorySegment tokensHost = Arena.ofAuto().allocate(8, 8);
    private final int gradAccum;
    private final int maxSeqLen;

    /** {@code sums} is a [2] tensor of the rank in {@code model.precision().statistics()} dtype (see the class comment). */
    TrainStep(TrainingParts parts, Gpt model, Optimizers opt, Collectives comm, Tensor sums, int gradAccum, int maxSeqLen) {
        if (sums.numel() != 2 || sums.dtype() != model.precision().statistics())
            throw new IllegalArgumentException("TrainStep needs a [2] " + model.precision().statistics() + " tensor, got " + sums);
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
        Tensor lossSum = sums.view(0, 1);
        for (int micro = 0; micro < gradAccum; micro++) {
            Batch b = train.next(batchTokens, gradAccum, maxSeqLen);
            if (micro > 0) model.reuseWorkingCopies();   // parameters change only between steps
            // a micro-step's launches as one replayable segment (after its input uploads): on CUDA an
            // identical earlier micro-step is replayed as one graph (docs/cuda.md, "CUDA graphs")
            model.ops().backend().replayable(() -> model.forwardBackward(b.inputs(), b.targets(), b.cuSeqlens(), w.shortBlocks(),
                    w.longBlocks(), parts.loss(), mtp, 1.0 / gradAccum, lossSum));
            stepTokens += b.size();
        }
        for (TrainingHook h : parts.hooks()) h.afterBackward(ctx);
        Set<String> frozen = sched.scalarsFrozen(step) ? Set.of(RecordOptimizers.ADAM_SCALARS) : Set.of();
        opt.step(new StepPlan(step, sched.lrMultiplier(step), sched.muonMomentum(step), sched.adamSteps(step), frozen));
        for (TrainingHook h : parts.hooks()) h.afterOptimizerStep(ctx);
        return reduce(stepTokens);
    }

    /**
     * The step's one host wait: with several ranks the tokens join the loss on the device and
     * both are summed over the ranks there (exact for F32 statistics up to 2^24 tokens a step);
     * then one readback.
     */
    private Outcome reduce(long stepTokens) {
        if (comm.worldSize() == 1) return new Outcome(HostData.scalar(sums) / stepTokens, stepTokens);
        HostData.store(tokensHost, sums.dtype(), 0, stepTokens);
        sums.backend().copyFromHostAsync(sums.view(1, 1), tokensHost);
        comm.allReduce(sums, Collectives.Reduce.SUM);
        double[] s = HostData.toDoubles(sums);
        return new Outcome(s[0] / s[1], (long) s[1]);
    }

    /** Sums two numbers over the ranks. */
    static double[] allSum(Collectives comm, Tensor red, double a, double b) {
        if (comm.worldSize() == 1) return new double[] {a, b};
        HostData.write(red, new double[] {a, b});
        comm.allReduce(red, Collectives.Reduce.SUM);
        return HostData.toDoubles(red);
    }
}
