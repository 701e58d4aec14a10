package dev.speedrun.app.research;

import java.util.Arrays;
import org.apache.commons.math3.distribution.BinomialDistribution;
import org.apache.commons.math3.distribution.TDistribution;
import org.apache.commons.math3.stat.descriptive.DescriptiveStatistics;
import org.apache.commons.math3.stat.inference.TTest;

/**
 * The statistics of {@code compare} and {@code bench ab}, on Apache Commons Math's distributions
 * and tests: summary with a t confidence interval, a one-sided one-sample t-test against a target,
 * Welch's two-sample t-test with Cohen's d, and the two-sided sign test. Undefined values (one
 * sample, zero spread) are NaN, never made up.
 */
public final class Stats {
    private Stats() {}

    /** n, mean, sample standard deviation (n − 1) and the two-sided {@code level} t interval of the mean. */
    public record Summary(int n, double mean, double sd, double ciLow, double ciHigh) {
        public double sem() { return sd / Math.sqrt(n); }
    }

    public static Summary summary(double[] x, double level) {
        DescriptiveStatistics d = new DescriptiveStatistics(x);
        int n = x.length;
        double mean = n == 0 ? Double.NaN : d.getMean();
        double sd = n < 2 ? Double.NaN : d.getStandardDeviation();
        double half = n < 2 ? Double.NaN : new TDistribution(null, n - 1).inverseCumulativeProbability(0.5 + level / 2) * sd / Math.sqrt(n);
        return new Summary(n, mean, sd, mean - half, mean + half);
    }

    /** One-sample t-test of H1: mean &lt; target. */
    public record OneSample(double target, double t, int df, double pLess) {}

    public static OneSample lessThan(double[] x, double target) {
        int n = x.length;
        if (n < 2) return new OneSample(target, Double.NaN, n - 1, Double.NaN);
        double t = new TTest().t(target, x);
        double p = Double.isNaN(t) ? Double.NaN : new TDistribution(null, n - 1).cumulativeProbability(t);
        return new OneSample(target, t, n - 1, p);
    }

    /**
     * Welch's t-test of a against b (unequal variances, Welch–Satterthwaite df): the difference of
     * the means with its {@code level} interval, t, df, the two-sided p and the one-sided p of
     * H1: mean(a) &lt; mean(b); Cohen's d with the pooled standard deviation.
     */
    public record Welch(double diff, double ciLow, double ciHigh, double t, double df, double pTwoSided, double pLess, double cohenD) {}

    public static Welch welch(double[] a, double[] b, double level) {
        int na = a.length, nb = b.length;
        double diff = mean(a) - mean(b);
        if (na < 2 || nb < 2) return new Welch(diff, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
        double va = new DescriptiveStatistics(a).getVariance(), vb = new DescriptiveStatistics(b).getVariance();
        double se2 = va / na + vb / nb;
        double df = se2 * se2 / (va * va / ((double) na * na * (na - 1)) + vb * vb / ((double) nb * nb * (nb - 1)));
        double pooled = Math.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2));
        double d = pooled == 0 ? Double.NaN : diff / pooled;
        if (se2 == 0) return new Welch(diff, diff, diff, Double.NaN, Double.NaN, Double.NaN, Double.NaN, d);
        TTest tt = new TTest();
        double t = tt.t(a, b);
        double p2 = tt.tTest(a, b);
        TDistribution td = new TDistribution(null, df);
        double half = td.inverseCumulativeProbability(0.5 + level / 2) * Math.sqrt(se2);
        return new Welch(diff, diff - half, diff + half, t, df, p2, td.cumulativeProbability(t), d);
    }

    /** Sign test: how many of the values are above and below {@code center} (ties dropped), two-sided binomial p. */
    public record Sign(int above, int below, int ties, double pTwoSided) {}

    public static Sign sign(double[] x, double center) {
        int above = 0, below = 0, ties = 0;
        for (double v : x) {
            if (v > center) above++;
            else if (v < center) below++;
            else ties++;
        }
        int n = above + below;
        if (n == 0) return new Sign(0, 0, ties, 1.0);
        BinomialDistribution bd = new BinomialDistribution(null, n, 0.5);
        double p = Math.min(1.0, 2 * bd.cumulativeProbability(Math.min(above, below)));
        return new Sign(above, below, ties, p);
    }

    public static double mean(double[] x) { return x.length == 0 ? Double.NaN : new DescriptiveStatistics(x).getMean(); }

    /** The median and quartiles (Commons Math's default percentile estimate). */
    public static double[] quartiles(double[] x) {
        if (x.length == 0) return new double[] {Double.NaN, Double.NaN, Double.NaN};
        DescriptiveStatistics d = new DescriptiveStatistics(Arrays.copyOf(x, x.length));
        return new double[] {d.getPercentile(25), d.getPercentile(50), d.getPercentile(75)};
    }
}
