package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class BenchStepCommandTest {
    @Test void printsOneRowPerTokenCount() {
        String s = CliRun.expect(0, "bench", "step", "--preset", "tiny", "--tokens", "16,24", "--iters", "2", "--warmup", "1");
        assertTrue(s.contains("forward+backward only"), s);
        Pattern row = Pattern.compile("(?m)^\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+([0-9.]+)\\s+([0-9.]+)\\s+(\\d+)\\s+([0-9.]+)$");
        Matcher m = row.matcher(s);
        int[] expectT = {16, 24};
        for (int t : expectT) {
            assertTrue(m.find(), "missing row for T=" + t + " in:\n" + s);
            assertEquals(t, Integer.parseInt(m.group(1)));
            double ms = Double.parseDouble(m.group(4)), tps = Double.parseDouble(m.group(6));
            assertTrue(ms > 0 && Double.parseDouble(m.group(7)) > 0, s);
            // tokens/s is T over the median step time
            assertEquals(t / ms * 1e3, tps, Math.max(1, 0.01 * tps), s);
        }
        assertTrue(!m.find(), "more rows than token counts:\n" + s);
    }

    @Test void sizesModeAndErrors() {
        String s = CliRun.expect(0, "bench", "step", "--vocab", "64", "--width", "16", "--heads", "2", "--head-dim", "8", "--block", "2",
                "--tokens", "12", "--iters", "1", "--warmup", "0");
        assertTrue(s.contains("vocab 64, layers 11, heads 2 × 8, width 16"), s);
        assertTrue(CliRun.expect(1, "bench", "step", "--vocab", "64", "--width", "16", "--heads", "3", "--head-dim", "8").contains("--heads × --head-dim"));
        assertTrue(CliRun.expect(1, "bench", "step", "--preset", "nosuch").contains("nosuch"));
        assertTrue(CliRun.expect(1, "bench", "step", "--preset", "tiny", "--dtype", "i32").contains("--dtype"));
    }

    @Test void mixedPrecisionWithOptimizer() {
        String s = CliRun.expect(0, "bench", "step", "--preset", "tiny", "--tokens", "16", "--iters", "2", "--warmup", "1", "--dtype", "mixed", "--with-optimizer");
        assertTrue(s.contains("dtype mixed") && s.contains("forward+backward+optimizer step"), s);
        assertTrue(Pattern.compile("(?m)^\\s+16\\s+\\d+\\s+\\d+\\s+[0-9.]+").matcher(s).find(), s);
    }
}
