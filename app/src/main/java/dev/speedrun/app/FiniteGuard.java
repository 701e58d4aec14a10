package dev.speedrun.app;

import dev.speedrun.kernels.Ops;
import dev.speedrun.model.Parameter;
import dev.speedrun.model.ParameterTable;
import dev.speedrun.schedules.TrainingContext;
import dev.speedrun.schedules.TrainingHook;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;

/**
 * Stops a run at the first non-finite gradient, before the optimizer applies it. The hook runs
 * last after the backward passes: every gradient's sum of squares is accumulated on the device
 * into one scalar ({@link Ops#sumSquares}, no host transfer per tensor) and that one number is
 * read; NaN or Inf in any gradient makes it non-finite. Only then are the gradients searched, one
 * by one, for the first tensor holding a non-finite element. (A sum of squares of finite values
 * can overflow the F32 scalar, at a gradient norm above ~1.8e19: the search then finds nothing and
 * the run goes on.)
 */
final class FiniteGuard implements TrainingHook, AutoCloseable {
    /** A non-finite loss or gradient: the run stops with this. */
    static final class NonFiniteException extends RuntimeException {
        final int step;

        NonFiniteException(int step, String message) {
            super(message);
            this.step = step;
        }
    }

    private final ParameterTable params;
    private final Ops ops;
    private final MemoryArena arena;
    private final Tensor sumSq;   // F32 [1]

    FiniteGuard(ParameterTable params, Ops ops) {
        this.params = params;
        this.ops = ops;
        this.arena = ops.backend().newArena();
        this.sumSq = arena.allocate(DType.F32, 1);
    }

    @Override public void afterBackward(TrainingContext ctx) { checkGradients(ctx.step()); }

    /** Throws {@link NonFiniteException} naming the first gradient with a NaN or Inf. */
    void checkGradients(int step) {
        boolean first = true;
        for (Parameter p : params.parameters()) {
            Tensor g = p.grad();
            ops.sumSquares(sumSq, g.reshape(g.numel()), !first);
            first = false;
        }
        if (first || Double.isFinite(HostData.toDoubles(sumSq)[0])) return;
        for (Parameter p : params.parameters()) {
            long at = firstNonFinite(p.grad());
            if (at >= 0)
                throw new NonFiniteException(step, "step " + step + ": non-finite gradient: first in '" + p.name() + "' (element " + at
                        + " of " + p.grad().numel() + ")");
        }
    }

    /** Throws {@link NonFiniteException} when the loss of {@code step} is not finite. */
    static void checkLoss(int step, double loss) {
        if (!Double.isFinite(loss)) throw new NonFiniteException(step, "step " + step + ": non-finite training loss " + loss);
    }

    /** Index of the first NaN or Inf of {@code t}, or -1 (a host copy: only on the failure path). */
    static long firstNonFinite(Tensor t) {
        Tensor flat = t.reshape(t.numel());
        long n = t.numel(), chunk = 1 << 20;
        for (long s = 0; s < n; s += chunk) {
            int cnt = (int) Math.min(chunk, n - s);
            double[] v = HostData.toDoubles(flat.view(s, cnt));
            for (int k = 0; k < cnt; k++) if (!Double.isFinite(v[k])) return s + k;
        }
        return -1;
    }

    @Override public void close() { arena.close(); }
}
