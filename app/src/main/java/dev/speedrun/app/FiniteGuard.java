package dev.speedrun.app;

import dev.speedrun.kernels.Ops;
import dev.speedrun.model.Parameter;
import dev.speedrun.model.ParameterTable;
import dev.speedrun.tensor.Tensor;
import java.util.List;

/**
 * Stops a run at the first step with a non-finite gradient or loss, without a host wait of its
 * own. After the backward passes (and the plugins' {@code afterBackward} hooks, so the gradients
 * checked are those the optimizer gets) {@link #sumGradients} queues one device reduction per
 * parameter, Σ grad into that parameter's slot of the step's statistics tensor; the slots come back
 * with the step's loss in its one readback ({@link TrainStep}), and {@link #check} names the first
 * parameter, in parameter order, whose sum is NaN or ±Inf. A NaN or an Inf anywhere in a gradient
 * makes its sum non-finite. (A plain sum, not a sum of squares, so finite gradients overflow the
 * F32 slot only near 3.4e38 / numel per element; a sum of squares would overflow at 1.8e19.)
 *
 * <p>The optimizer has applied the step by the time the slots are read (that is the price of not
 * waiting mid-step); the run stops before anything of it is reported or saved, so the last
 * checkpoint is the last good state. With several ranks the slots are summed over the ranks with
 * the loss, so every rank sees the same verdict and all stop at the same step.
 */
final class FiniteGuard {
    /** A non-finite loss or gradient: the run stops with this. */
    static final class NonFiniteException extends RuntimeException {
        final int step;

        NonFiniteException(int step, String message) {
            super(message);
            this.step = step;
        }
    }

    private final List<Parameter> params;
    private final Ops ops;

    FiniteGuard(ParameterTable params, Ops ops) {
        this.params = List.copyOf(params.parameters());
        this.ops = ops;
    }

    /** Slots {@link #sumGradients} writes: one per parameter. */
    int slots() { return params.size(); }

    /**
     * Queues {@code into[i] = Σ grad_i} for every parameter i, on the device (no host transfer).
     * @param into [{@link #slots()}] in the statistics dtype
     */
    void sumGradients(Tensor into) {
        if (into.numel() != params.size())
            throw new IllegalArgumentException("FiniteGuard needs " + params.size() + " slots, got " + into);
        for (int i = 0; i < params.size(); i++) {
            Tensor g = params.get(i).grad();
            ops.sum(into.view(i, 1), g.reshape(g.numel()), false);
        }
    }

    /**
     * Throws {@link NonFiniteException} naming the first parameter whose gradient sum is not finite.
     * @param sums   the values {@link #sumGradients} wrote (read back), from {@code offset} on
     */
    void check(int step, double[] sums, int offset) {
        for (int i = 0; i < params.size(); i++) {
            double s = sums[offset + i];
            if (Double.isFinite(s)) continue;
            Parameter p = params.get(i);
            throw new NonFiniteException(step, "step " + step + ": non-finite gradient: first in '" + p.name() + "' (" + p.grad().numel()
                    + " elements; their sum is " + s + (Double.isNaN(s) ? ": a NaN, or Infs of both signs" : ": an Inf, or finite values past the slot's range") + ")");
        }
    }

    /** Throws {@link NonFiniteException} when the loss of {@code step} is not finite. */
    static void checkLoss(int step, double loss) {
        if (!Double.isFinite(loss)) throw new NonFiniteException(step, "step " + step + ": non-finite training loss " + loss);
    }
}
