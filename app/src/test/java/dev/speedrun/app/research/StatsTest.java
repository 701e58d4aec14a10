package dev.speedrun.app.research;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The statistics against the textbook formulas, computed here from the same numbers: mean and
 * sample standard deviation by their sums, Student's t distribution by integrating its density
 * numerically (no library), Welch–Satterthwaite degrees of freedom, pooled-SD Cohen's d, and the
 * sign test's binomial sum.
 */
class StatsTest {
    // final val losses of two hypothetical groups (record-like numbers) and some timing ratios
    static final double[] A = {3.2781, 3.2795, 3.2770, 3.2802, 3.2788, 3.2776, 3.2791};
    static final double[] B = {3.2830, 3.2815, 3.2841, 3.2809, 3.2826};

    static double mean(double[] x) {
        double s = 0;
        for (double v : x) s += v;
        return s / x.length;
    }

    static double var(double[] x) {
        double m = mean(x), s = 0;
        for (double v : x) s += (v - m) * (v - m);
        return s / (x.length - 1);
    }

    /** Student's t CDF: ∫ (1 + x²/ν)^(−(ν+1)/2) from −∞ to t over the whole line (x = tan θ, Simpson). */
    static double tCdf(double t, double nu) {
        return integral(Math.atan(t), nu) / integral(Math.PI / 2, nu);
    }

    private static double integral(double upper, double nu) {
        double lo = -Math.PI / 2 + 1e-12, hi = upper;
        int n = 20_000;
        double h = (hi - lo) / n, s = 0;
        for (int i = 0; i <= n; i++) {
            double th = lo + i * h, x = Math.tan(th), c = Math.cos(th);
            double f = Math.pow(1 + x * x / nu, -(nu + 1) / 2) / (c * c);
            s += f * (i == 0 || i == n ? 1 : i % 2 == 1 ? 4 : 2);
        }
        return s * h / 3;
    }

    /** The t quantile by bisection on the CDF. */
    static double tQuantile(double p, double nu) {
        double lo = -50, hi = 50;
        for (int i = 0; i < 45; i++) {
            double mid = (lo + hi) / 2;
            if (tCdf(mid, nu) < p) lo = mid; else hi = mid;
        }
        return (lo + hi) / 2;
    }

    @Test void summaryIsMeanSampleSdAndTInterval() {
        Stats.Summary s = Stats.summary(A, 0.95);
        int n = A.length;
        double m = mean(A), sd = Math.sqrt(var(A));
        double half = tQuantile(0.975, n - 1) * sd / Math.sqrt(n);
        assertEquals(n, s.n());
        assertEquals(m, s.mean(), 1e-12);
        assertEquals(sd, s.sd(), 1e-12);
        assertEquals(m - half, s.ciLow(), 1e-7);
        assertEquals(m + half, s.ciHigh(), 1e-7);
    }

    @Test void oneSidedOneSampleTestAgainstTheTarget() {
        double target = 3.28;
        Stats.OneSample o = Stats.lessThan(A, target);
        double t = (mean(A) - target) / Math.sqrt(var(A) / A.length);
        assertEquals(t, o.t(), 1e-9);
        assertEquals(A.length - 1, o.df());
        assertEquals(tCdf(t, A.length - 1), o.pLess(), 1e-7);
        assertTrue(o.pLess() < 0.05, "A's mean is below 3.28");
        // above the target: p of "below" is large
        assertEquals(tCdf((mean(B) - target) / Math.sqrt(var(B) / B.length), B.length - 1), Stats.lessThan(B, target).pLess(), 1e-7);
    }

    @Test void welchTestWithSatterthwaiteDfAndCohensD() {
        Stats.Welch w = Stats.welch(A, B, 0.95);
        int na = A.length, nb = B.length;
        double va = var(A), vb = var(B), se2 = va / na + vb / nb;
        double t = (mean(A) - mean(B)) / Math.sqrt(se2);
        double df = se2 * se2 / (Math.pow(va / na, 2) / (na - 1) + Math.pow(vb / nb, 2) / (nb - 1));
        double pooled = Math.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2));
        assertEquals(mean(A) - mean(B), w.diff(), 1e-12);
        assertEquals(t, w.t(), 1e-9);
        assertEquals(df, w.df(), 1e-9);
        assertEquals(2 * tCdf(-Math.abs(t), df), w.pTwoSided(), 1e-7);
        assertEquals(tCdf(t, df), w.pLess(), 1e-7);
        assertEquals((mean(A) - mean(B)) / pooled, w.cohenD(), 1e-9);
        double half = tQuantile(0.975, df) * Math.sqrt(se2);
        assertEquals(w.diff() - half, w.ciLow(), 1e-7);
        assertEquals(w.diff() + half, w.ciHigh(), 1e-7);
    }

    @Test void signTestIsTheTwoSidedBinomialSum() {
        double[] ratios = {1.02, 0.99, 1.05, 1.01, 1.03, 1.00, 1.04, 1.02, 0.98};
        Stats.Sign s = Stats.sign(ratios, 1.0);
        int above = 0, below = 0;
        for (double r : ratios) { if (r > 1) above++; else if (r < 1) below++; }
        int n = above + below, k = Math.min(above, below);
        double sum = 0;
        for (int i = 0; i <= k; i++) sum += binom(n, i) / Math.pow(2, n);
        assertEquals(above, s.above());
        assertEquals(below, s.below());
        assertEquals(1, s.ties());
        assertEquals(Math.min(1, 2 * sum), s.pTwoSided(), 1e-12);
    }

    @Test void medianIntervalOfBenchAbUsesBinomialOrderStatistics() {
        double[] r = {1.10, 1.02, 0.97, 1.05, 1.01, 1.08, 1.03, 1.04};
        BenchAbCommand.Summary s = BenchAbCommand.summarize(r);
        double[] sorted = r.clone();
        java.util.Arrays.sort(sorted);
        int n = r.length;
        assertEquals((sorted[3] + sorted[4]) / 2, s.median(), 1e-12);
        // largest k with P(X ≤ k − 1) ≤ 0.025 for X ~ Bin(n, 1/2)
        int k = 0;
        double cum = 0;
        while (true) {
            double next = cum + binom(n, k) / Math.pow(2, n);
            if (next > 0.025) break;
            cum = next;
            k++;
        }
        assertEquals(sorted[k - 1], s.ciLow(), 0);
        assertEquals(sorted[n - k], s.ciHigh(), 0);
    }

    @Test void undefinedStatisticsAreNaN() {
        Stats.Summary one = Stats.summary(new double[] {3.3}, 0.95);
        assertEquals(3.3, one.mean());
        assertTrue(Double.isNaN(one.sd()) && Double.isNaN(one.ciLow()));
        assertTrue(Double.isNaN(Stats.lessThan(new double[] {3.3}, 3.28).pLess()));
        assertTrue(Double.isNaN(Stats.welch(new double[] {1}, B, 0.95).t()));
    }

    private static double binom(int n, int k) {
        double c = 1;
        for (int i = 1; i <= k; i++) c = c * (n - k + i) / i;
        return c;
    }
}
