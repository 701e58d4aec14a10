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
import java.util.Set;

/**
 * One training step of one rank (spec §3, §5): hooks {@code onStepStart}; {@code gradAccum}
 * micro-batches, each forward+backward with the step's windows and multi-token weights and
 * gradient scale 1/gradAccum; hooks {@code afterBackward}; the optimizers (the scalar optimizer
 * frozen after transitions); hooks {@code afterOptimizerStep}; the loss reduced over the ranks.
 *
 * @param parts     schedules, hooks, loss and token weights of the run
 * @param model     this rank's model
 * @param opt       this rank's optimizers
 * @param comm      the collectives over the ranks
 * @param red       an F64 [2] scratch tensor of the rank for the reductions
 * @param gradAccum micro-batches per step on this rank
 * @param maxSeqLen document truncation of the batcher
 */
record TrainStep(TrainingParts parts, Gpt model, Optimizers opt, Collectives comm, Tensor red, int gradAccum, int maxSeqLen) {
    /** What a step did, summed over the ranks: mean training loss per token, and tokens. */
    record Outcome(double trainLoss, long tokens) {}

    /** Trains step {@code ctx.step()} on the next batches of {@code train}. */
    Outcome run(RankContext ctx, TrainBatcher train) {
        int step = ctx.step();
        RecordSchedules sched = parts.schedules();
        for (TrainingHook h : parts.hooks()) h.onStepStart(ctx);
        Windows w = sched.windows(step);
        double[] mtp = parts.tokenWeights().at(step);
        long batchTokens = sched.batchTokens(step);
        double lossSum = 0;
        long stepTokens = 0;
        for (int micro = 0; micro < gradAccum; micro++) {
            Batch b = train.next(batchTokens, gradAccum, maxSeqLen);
            lossSum += model.forwardBackward(b.inputs(), b.targets(), b.cuSeqlens(), w.shortBlocks(), w.longBlocks(),
                    parts.loss(), mtp, 1.0 / gradAccum) * gradAccum;
            stepTokens += b.size();
        }
        for (TrainingHook h : parts.hooks()) h.afterBackward(ctx);
        Set<String> frozen = sched.scalarsFrozen(step) ? Set.of(RecordOptimizers.ADAM_SCALARS) : Set.of();
        opt.step(new StepPlan(step, sched.lrMultiplier(step), sched.muonMomentum(step), sched.adamSteps(step), frozen));
        for (TrainingHook h : parts.hooks()) h.afterOptimizerStep(ctx);
        double[] sums = allSum(comm, red, lossSum, stepTokens);
        return new Outcome(sums[0] / sums[1], (long) sums[1]);
    }

    /** Sums two numbers over the ranks. */
    static double[] allSum(Collectives comm, Tensor red, double a, double b) {
        if (comm.worldSize() == 1) return new double[] {a, b};
        HostData.write(red, new double[] {a, b});
        comm.allReduce(red, Collectives.Reduce.SUM);
        return HostData.toDoubles(red);
    }
}
