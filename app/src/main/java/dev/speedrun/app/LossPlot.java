package dev.speedrun.app;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** A small self-contained SVG plot of train and validation loss against the step. */
final class LossPlot {
    record Point(double step, double loss) {}

    private LossPlot() {}

    static void write(Path file, String title, List<Point> train, List<Point> val) throws IOException {
        Files.writeString(file, svg(title, train, val));
    }

    static String svg(String title, List<Point> train, List<Point> val) {
        int w = 800, h = 480, left = 70, right = 20, top = 40, bottom = 50;
        double xMax = 1, yMin = Double.POSITIVE_INFINITY, yMax = Double.NEGATIVE_INFINITY;
        for (List<Point> l : List.of(train, val))
            for (Point p : l) {
                if (!Double.isFinite(p.loss())) continue;
                xMax = Math.max(xMax, p.step());
                yMin = Math.min(yMin, p.loss());
                yMax = Math.max(yMax, p.loss());
            }
        if (!Double.isFinite(yMin)) { yMin = 0; yMax = 1; }
        if (yMax - yMin < 1e-9) { yMax += 0.5; yMin -= 0.5; }
        double pad = (yMax - yMin) * 0.05;
        final double y0 = yMin - pad, y1 = yMax + pad, xm = xMax;
        int pw = w - left - right, ph = h - top - bottom;
        java.util.function.DoubleUnaryOperator X = s -> left + s / xm * pw;
        java.util.function.DoubleUnaryOperator Y = l -> top + (y1 - l) / (y1 - y0) * ph;
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">%n", w, h));
        sb.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", w, h));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"24\" font-size=\"15\">%s</text>%n", left, escape(title)));
        sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>%n", left, top, pw, ph));
        for (int i = 0; i <= 5; i++) {
            double l = y0 + (y1 - y0) * i / 5, y = Y.applyAsDouble(l);
            sb.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>", left, left + pw, y, y));
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>%n", left - 6, y + 4, l));
            double s = xm * i / 5, x = X.applyAsDouble(s);
            sb.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>%n", x, top + ph + 18, s));
        }
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>%n", left + pw / 2, h - 10));
        sb.append(polyline(train, X, Y, "#1f77b4"));
        sb.append(polyline(val, X, Y, "#d62728"));
        for (Point p : val)
            if (Double.isFinite(p.loss()))
                sb.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>%n",
                        X.applyAsDouble(p.step()), Y.applyAsDouble(p.loss())));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"#1f77b4\">train loss</text>%n", left + pw - 160, top + 18));
        sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"#d62728\">val loss</text>%n", left + pw - 80, top + 18));
        sb.append("</svg>\n");
        return sb.toString();
    }

    private static String polyline(List<Point> pts, java.util.function.DoubleUnaryOperator X,
                                   java.util.function.DoubleUnaryOperator Y, String color) {
        StringBuilder sb = new StringBuilder("<polyline fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.5\" points=\"");
        for (Point p : pts)
            if (Double.isFinite(p.loss()))
                sb.append(String.format(Locale.ROOT, "%.1f,%.1f ", X.applyAsDouble(p.step()), Y.applyAsDouble(p.loss())));
        return sb.append("\"/>\n").toString();
    }

    private static String escape(String s) { return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"); }
}
