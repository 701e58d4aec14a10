package dev.speedrun.app.data;

import java.io.PrintWriter;

/** A one-line progress bar on stderr, redrawn at most five times a second. */
final class ProgressBar {
    private final PrintWriter err;
    private final String label;
    private final long t0 = System.nanoTime();
    private long lastDraw;
    private int lastLen;

    ProgressBar(PrintWriter err, String label) {
        this.err = err;
        this.label = label;
    }

    /** {@code fraction} in [0, 1] or negative when unknown; {@code detail} follows the bar. */
    void update(double fraction, String detail, boolean force) {
        long now = System.nanoTime();
        if (!force && now - lastDraw < 200_000_000L) return;
        lastDraw = now;
        StringBuilder sb = new StringBuilder("\r").append(label).append(' ');
        if (fraction >= 0) {
            int w = 30, full = (int) Math.round(Math.min(1, fraction) * w);
            sb.append('[').append("#".repeat(full)).append(" ".repeat(w - full)).append("] ")
                    .append(String.format("%5.1f%% ", 100 * Math.min(1, fraction)));
        }
        sb.append(detail);
        int len = sb.length();
        if (len < lastLen) sb.append(" ".repeat(lastLen - len));
        lastLen = len;
        err.print(sb);
        err.flush();
    }

    void finish() {
        err.println();
        err.flush();
    }

    double seconds() { return (System.nanoTime() - t0) / 1e9; }

    static String count(double v) {
        if (v >= 1e9) return String.format("%.2fG", v / 1e9);
        if (v >= 1e6) return String.format("%.2fM", v / 1e6);
        if (v >= 1e3) return String.format("%.1fk", v / 1e3);
        return String.format("%.0f", v);
    }
}
