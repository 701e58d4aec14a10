package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.VectorMath.F;

import java.lang.foreign.MemorySegment;

/**
 * Vector API kernels of the loss family ({@link CpuLoss}): one row of the soft-capped
 * cross-entropy. Called only when every tensor of the call is F32 and the incubator module is
 * present ({@link Vectors}); results differ from the scalar double path by float rounding only.
 */
final class LossVector {
    private LossVector() {}

    // ------------------------------------------------------------------ soft-capped cross-entropy

    /**
     * One row of the soft-capped cross-entropy: fills sg = σ(z/divisor) for the V logits z (zo:
     * element index of the row) and e = exp(cap·sg − max) (so the gradient needs no second
     * exponential), returns the row's log-sum-exp (double sum); stats[0] = max, stats[1] = Σ e.
     */
    static double softcapRow(MemorySegment zs, long zo, int V, float cap, float invDiv, float[] sg, float[] e, double[] stats) {
        MemorySegment.copy(zs, F, zo * 4, sg, 0, V);
        float mx = Float.NEGATIVE_INFINITY;
        for (int c = 0; c < V; c++) {
            float s = (float) (1.0 / (1.0 + Math.exp(-sg[c] * invDiv)));
            sg[c] = s;
            mx = Math.max(mx, cap * s);
        }
        double se = 0;
        for (int c = 0; c < V; c++) {
            float ev = (float) Math.exp(cap * sg[c] - mx);
            e[c] = ev;
            se += ev;
        }
        stats[0] = mx;
        stats[1] = se;
        return mx + Math.log(se);
    }

    /** dz[c] = k·e[c]·sg(1−sg) for the row at element zo of dzs, k = gradScale·coef·cap/div / Σe. */
    static void softcapGrad(MemorySegment dzs, long zo, int V, float k, float[] sg, float[] e) {
        for (int c = 0; c < V; c++) {
            float s = sg[c];
            e[c] = k * e[c] * s * (1 - s);
        }
        MemorySegment.copy(e, 0, dzs, F, zo * 4, V);
    }
}
