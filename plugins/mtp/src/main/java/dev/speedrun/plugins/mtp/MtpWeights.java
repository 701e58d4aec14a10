package dev.speedrun.plugins.mtp;

import dev.speedrun.plugin.TokenWeights;

/** The multi-token weight schedule of {@link MtpOptions} over {@code scheduledSteps} steps (spec §3). */
public final class MtpWeights implements TokenWeights {
    private final MtpOptions options;
    private final int scheduledSteps;

    public MtpWeights(MtpOptions options, int scheduledSteps) {
        if (scheduledSteps <= 0) throw new IllegalArgumentException("scheduledSteps must be > 0: " + scheduledSteps);
        this.options = options;
        this.scheduledSteps = scheduledSteps;
    }

    @Override public double[] at(int step) {
        int p = options.phases().size();
        if (step >= scheduledSteps) return toArray(options.phases().get(p - 1).end(), null, 0);
        int k = (int) ((long) p * step / scheduledSteps);
        // position inside the phase, in [0, 1): P·x − k
        double f = (double) p * step / scheduledSteps - k;
        MtpOptions.Phase ph = options.phases().get(k);
        return toArray(ph.start(), ph.end(), f);
    }

    private static double[] toArray(java.util.List<Double> start, java.util.List<Double> end, double f) {
        double[] w = new double[start.size()];
        for (int j = 0; j < w.length; j++) {
            double a = start.get(j);
            w[j] = end == null ? a : a + (end.get(j) - a) * f;
        }
        return w;
    }
}
