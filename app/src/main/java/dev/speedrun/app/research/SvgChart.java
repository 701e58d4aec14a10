package dev.speedrun.app.research;

import java.util.List;
import java.util.Locale;
import java.util.function.DoubleUnaryOperator;

/**
 * Self-contained SVG charts of the comparison report, in the style of the run folder's loss.svg:
 * overlaid curves coloured by group, and per-group distributions (every run a dot, the mean with
 * its 95% interval as a bar, an optional reference line such as the target).
 */
final class SvgChart {
    private SvgChart() {}

    static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

    static String color(int i) { return COLORS[i % COLORS.length]; }

    /** One curve; {@code group} picks the colour and the legend entry. */
    record Curve(int group, List<double[]> points) {}

    static final int W = 820, H = 500, LEFT = 80, RIGHT = 220, TOP = 40, BOTTOM = 50;

    static String curves(String title, String xLabel, String yLabel, List<String> groups, List<Curve> curves) {
        double x0 = 0, x1 = 1, y0 = Double.POSITIVE_INFINITY, y1 = Double.NEGATIVE_INFINITY;
        for (Curve c : curves)
            for (double[] p : c.points())
                if (Double.isFinite(p[1])) { x1 = Math.max(x1, p[0]); y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); }
        double[] yr = range(y0, y1);
        StringBuilder sb = frame(title, xLabel, yLabel, x0, x1, yr[0], yr[1]);
        DoubleUnaryOperator X = x(x0, x1), Y = y(yr[0], yr[1]);
        for (Curve c : curves) {
            sb.append("<polyline fill=\"none\" stroke-opacity=\"0.75\" stroke-width=\"1.3\" stroke=\"").append(color(c.group())).append("\" points=\"");
            for (double[] p : c.points())
                if (Double.isFinite(p[1])) sb.append(fmt("%.1f,%.1f ", X.applyAsDouble(p[0]), Y.applyAsDouble(p[1])));
            sb.append("\"/>\n");
            for (double[] p : c.points())
                if (Double.isFinite(p[1]) && c.points().size() <= 40)
                    sb.append(fmt("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.2\" fill=\"%s\"/>%n", X.applyAsDouble(p[0]), Y.applyAsDouble(p[1]), color(c.group())));
        }
        legend(sb, groups);
        return sb.append("</svg>\n").toString();
    }

    /** Per group: the values as dots, the mean and its interval as a bar; {@code reference} as a dashed line (or NaN). */
    static String distributions(String title, String yLabel, List<String> groups, List<double[]> values, List<Stats.Summary> summaries,
                                double reference, String referenceLabel) {
        double y0 = Double.POSITIVE_INFINITY, y1 = Double.NEGATIVE_INFINITY;
        for (int g = 0; g < groups.size(); g++) {
            for (double v : values.get(g)) if (Double.isFinite(v)) { y0 = Math.min(y0, v); y1 = Math.max(y1, v); }
            Stats.Summary s = summaries.get(g);
            if (Double.isFinite(s.ciLow())) { y0 = Math.min(y0, s.ciLow()); y1 = Math.max(y1, s.ciHigh()); }
        }
        if (Double.isFinite(reference)) { y0 = Math.min(y0, reference); y1 = Math.max(y1, reference); }
        double[] yr = range(y0, y1);
        int n = Math.max(1, groups.size());
        StringBuilder sb = frame(title, "", yLabel, 0, n, yr[0], yr[1]);
        DoubleUnaryOperator Y = y(yr[0], yr[1]);
        double pw = W - LEFT - RIGHT, slot = pw / n;
        for (int g = 0; g < groups.size(); g++) {
            double cx = LEFT + slot * (g + 0.5);
            double[] v = values.get(g);
            for (int i = 0; i < v.length; i++) {
                double jitter = v.length == 1 ? 0 : (i / (double) (v.length - 1) - 0.5) * slot * 0.3;
                sb.append(fmt("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\" fill-opacity=\"0.7\"/>%n", cx - slot * 0.12 + jitter,
                        Y.applyAsDouble(v[i]), color(g)));
            }
            Stats.Summary s = summaries.get(g);
            double bx = cx + slot * 0.22;
            if (Double.isFinite(s.ciLow()))
                sb.append(fmt("<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#222\" stroke-width=\"2\"/>%n", bx, bx,
                        Y.applyAsDouble(s.ciLow()), Y.applyAsDouble(s.ciHigh())));
            if (Double.isFinite(s.mean()))
                sb.append(fmt("<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"4\" fill=\"#222\"/>%n", bx - 5, Y.applyAsDouble(s.mean()) - 2));
            sb.append(fmt("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%s</text>%n", cx, H - BOTTOM + 18, color(g),
                    escape(shorten(groups.get(g), (int) (slot / 7)))));
        }
        if (Double.isFinite(reference)) {
            double ry = Y.applyAsDouble(reference);
            sb.append(fmt("<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#555\" stroke-dasharray=\"6,4\"/>%n", LEFT, W - RIGHT, ry, ry));
            sb.append(fmt("<text x=\"%d\" y=\"%.1f\">%s</text>%n", W - RIGHT + 6, ry + 4, escape(referenceLabel)));
        }
        sb.append(fmt("<text x=\"%d\" y=\"%d\">dots: runs; bar: mean and 95%% CI</text>%n", W - RIGHT + 6, TOP + 14));
        legend(sb, groups);
        return sb.append("</svg>\n").toString();
    }

    private static StringBuilder frame(String title, String xLabel, String yLabel, double x0, double x1, double y0, double y1) {
        StringBuilder sb = new StringBuilder();
        int pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;
        sb.append(fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">%n", W, H));
        sb.append(fmt("<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", W, H));
        sb.append(fmt("<text x=\"%d\" y=\"24\" font-size=\"15\">%s</text>%n", LEFT, escape(title)));
        sb.append(fmt("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>%n", LEFT, TOP, pw, ph));
        DoubleUnaryOperator X = x(x0, x1), Y = y(y0, y1);
        for (int i = 0; i <= 5; i++) {
            double l = y0 + (y1 - y0) * i / 5, yy = Y.applyAsDouble(l);
            sb.append(fmt("<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>%n", LEFT, LEFT + pw, yy, yy));
            sb.append(fmt("<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>%n", LEFT - 6, yy + 4, tick(l, y1 - y0)));
            if (!xLabel.isEmpty()) {
                double s = x0 + (x1 - x0) * i / 5;
                sb.append(fmt("<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", X.applyAsDouble(s), TOP + ph + 18, tick(s, x1 - x0)));
            }
        }
        if (!xLabel.isEmpty()) sb.append(fmt("<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>%n", LEFT + pw / 2, H - 10, escape(xLabel)));
        sb.append(fmt("<text x=\"16\" y=\"%d\" transform=\"rotate(-90 16 %d)\" text-anchor=\"middle\">%s</text>%n", TOP + ph / 2, TOP + ph / 2,
                escape(yLabel)));
        return sb;
    }

    private static void legend(StringBuilder sb, List<String> groups) {
        for (int g = 0; g < groups.size(); g++) {
            int y = TOP + 40 + 18 * g;
            sb.append(fmt("<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>%n", W - RIGHT + 6, y - 10, color(g)));
            sb.append(fmt("<text x=\"%d\" y=\"%d\">%s</text>%n", W - RIGHT + 24, y, escape(shorten(groups.get(g), 30))));
        }
    }

    private static double[] range(double y0, double y1) {
        if (!Double.isFinite(y0)) { y0 = 0; y1 = 1; }
        if (y1 - y0 < 1e-9) { y1 += 0.5; y0 -= 0.5; }
        double pad = (y1 - y0) * 0.06;
        return new double[] {y0 - pad, y1 + pad};
    }

    private static DoubleUnaryOperator x(double x0, double x1) { return s -> LEFT + (s - x0) / (x1 - x0) * (W - LEFT - RIGHT); }

    private static DoubleUnaryOperator y(double y0, double y1) { return l -> TOP + (y1 - l) / (y1 - y0) * (H - TOP - BOTTOM); }

    private static String tick(double v, double span) {
        int digits = span >= 50 ? 0 : span >= 5 ? 1 : span >= 0.5 ? 2 : span >= 0.05 ? 3 : 4;
        return String.format(Locale.ROOT, "%." + digits + "f", v);
    }

    static String shorten(String s, int max) { return s.length() <= Math.max(4, max) ? s : s.substring(0, Math.max(4, max) - 1) + "…"; }

    private static String fmt(String f, Object... a) { return String.format(Locale.ROOT, f, a); }

    static String escape(String s) { return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"); }
}
