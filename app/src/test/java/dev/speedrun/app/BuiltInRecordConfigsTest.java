package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.speedrun.app.config.ConfigLoader;
import dev.speedrun.app.config.TrainConfig;
import dev.speedrun.schedules.RecordSchedules;
import dev.speedrun.schedules.Windows;
import dev.speedrun.testsupport.Fixtures;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Every built-in record configuration reproduces its record's schedule at every step, through
 * the same loader the CLI uses: record 178 against the fixture CSV, record 177 against the
 * formulas of docs/record-178.md §3 written out once more here with that record's facts.
 */
class BuiltInRecordConfigsTest {
    @Test void record178MatchesTheFixtureAtEveryStep() {
        TrainConfig c = ConfigLoader.load("record-178", Map.of());
        RecordSchedules s = new RecordSchedules(c.schedule());
        List<String> lines = Fixtures.lines("schedules_record178.csv");
        List<String> head = List.of(lines.getFirst().split(",", -1));
        List<Map<String, String>> rows = new ArrayList<>();
        for (String l : lines.subList(1, lines.size())) {
            if (l.isBlank()) continue;
            String[] v = l.split(",", -1);
            Map<String, String> r = new HashMap<>();
            for (int i = 0; i < head.size(); i++) r.put(head.get(i), v[i]);
            rows.add(r);
        }
        assertEquals(rows.size() - 1, s.totalSteps(), "steps of record-178 (fixture rows 0..total)");
        for (Map<String, String> r : rows) {
            int step = Integer.parseInt(r.get("step"));
            assertEquals(Double.parseDouble(r.get("lr_multiplier")), s.lrMultiplier(step), 1e-12, "lr at " + step);
            assertEquals(Long.parseLong(r.get("batch_tokens")), s.batchTokens(step), "batch at " + step);
            Windows w = s.windows(step);
            assertEquals(Integer.parseInt(r.get("ws_long")), w.longBlocks(), "long window at " + step);
            assertEquals(Integer.parseInt(r.get("ws_short")), w.shortBlocks(), "short window at " + step);
            assertEquals(Double.parseDouble(r.get("muon_momentum")), s.muonMomentum(step), 1e-12, "momentum at " + step);
            assertEquals(r.get("adam_steps").equals("1"), s.adamSteps(step), "adam at " + step);
        }
        assertEquals(List.of("mtp", "untie", "cwd", "adam-cwd-strict"), c.plugins());
        assertEquals(1.0, c.model().qkvInitScale());
    }

    /** Record 177's facts: 1960 + 40 steps, lr bumps 1.51 / 1.93, mask ≥ (cwd alone), Q/K/V init ×0.5, no MTP, no untie. */
    @Test void record177HasItsOwnScheduleAtEveryStep() {
        int scheduled = 1960, extension = 40, total = scheduled + extension;
        double[] lrMax = {1.0, 1.51, 1.93};
        long[] batch = {8L * 2048 * 8, 16L * 2048 * 8, 24L * 2048 * 8};
        int[] windowLong = {3, 7, 11};
        TrainConfig c = ConfigLoader.load("record-177", Map.of());
        assertEquals(List.of("cwd"), c.plugins(), "record 177: cautious decay with the ≥ mask only (no mtp, untie, adam-cwd-strict)");
        assertEquals(0.5, c.model().qkvInitScale());
        RecordSchedules s = new RecordSchedules(c.schedule());
        assertEquals(total, s.totalSteps());
        int transitions = 0;
        for (int step = 0; step <= total; step++) {
            double x = (double) step / scheduled;
            int stage = step >= scheduled ? 3 : (int) Math.floor(3 * x);
            long wantBatch = stage == 3 ? batch[2] : batch[stage];
            int wantLong = stage == 3 ? 13 : windowLong[stage], wantShort = wantLong / 2;
            double peak = x > 2.0 / 3 ? lrMax[2] : x > 1.0 / 3 ? lrMax[1] : lrMax[0];
            double lr;
            if (step >= scheduled) lr = 0.1;
            else if (x >= 0.45) {
                double w = (1 - x) / 0.55;
                lr = peak * w + 0.1 * (1 - w);
            } else lr = peak;
            double momentum = step < 300 ? 0.85 + (0.95 - 0.85) * step / 300.0
                    : step > total - 50 ? 0.95 - (0.95 - 0.85) * Math.min(1.0, (step - (total - 50)) / 50.0) : 0.95;
            assertEquals(wantBatch, s.batchTokens(step), "batch at " + step);
            Windows w = s.windows(step);
            assertEquals(wantLong, w.longBlocks(), "long window at " + step);
            assertEquals(wantShort, w.shortBlocks(), "short window at " + step);
            assertEquals(lr, s.lrMultiplier(step), 1e-12, "lr at " + step);
            assertEquals(momentum, s.muonMomentum(step), 1e-12, "momentum at " + step);
            if (step > 0 && step < total && s.isTransition(step)) transitions++;
        }
        // stage boundaries of 1960 steps: ceil(1960/3) = 654, ceil(2·1960/3) = 1307, extension at 1960
        for (int b : new int[] {654, 1307, 1960}) {
            assertEquals(true, s.isTransition(b), "transition at " + b);
            for (int k = 0; k < 40; k++) assertEquals(true, s.scalarsFrozen(b + k), "scalars frozen at " + (b + k));
            assertEquals(false, s.scalarsFrozen(b + 40), "scalars step again at " + (b + 40));
        }
        assertEquals(3, transitions, "transitions of record 177");
        assertEquals(new Windows(6, 20), s.validationWindows(total), "the final validation's windows");
    }
}
