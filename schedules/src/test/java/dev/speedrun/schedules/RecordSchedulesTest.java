package dev.speedrun.schedules;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.speedrun.testsupport.Fixtures;
import dev.speedrun.testsupport.ProjectRoot;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The record's schedules, built from configs/record-178.yaml, equal the fixture CSV at every step. */
class RecordSchedulesTest {
    static List<Map<String, String>> rows;
    static RecordSchedules s;

    /** The schedule section of the record-178 config. */
    static ScheduleConfig record178() throws IOException {
        ObjectMapper m = new ObjectMapper(new YAMLFactory());
        m.setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);
        m.enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
        JsonNode root = m.readTree(ProjectRoot.configs().resolve("record-178.yaml").toFile());
        return m.treeToValue(root.get("schedule"), ScheduleConfig.class);
    }

    @BeforeAll static void load() throws IOException {
        List<String> lines = Fixtures.lines("schedules_record178.csv");
        String[] head = lines.getFirst().split(",", -1);
        rows = new ArrayList<>();
        for (String l : lines.subList(1, lines.size())) {
            if (l.isBlank()) continue;
            String[] f = l.split(",", -1);
            Map<String, String> r = new HashMap<>();
            for (int i = 0; i < head.length; i++) r.put(head[i], f[i]);
            rows.add(r);
        }
        s = new RecordSchedules(record178());
    }

    static int step(Map<String, String> r) { return Integer.parseInt(r.get("step")); }

    static double d(Map<String, String> r, String k) { return Double.parseDouble(r.get(k)); }

    @Test void coversEveryStepOfTheRun() {
        assertEquals(s.totalSteps() + 1, rows.size(), "CSV has one row per step 0..total");
        for (int i = 0; i < rows.size(); i++) assertEquals(i, step(rows.get(i)));
    }

    @Test void batchSizeAndWindowsEqualFixture() {
        for (var r : rows) {
            int st = step(r);
            assertEquals(Long.parseLong(r.get("batch_tokens")), s.batchTokens(st), "batch_tokens at step " + st);
            assertEquals(new Windows(Integer.parseInt(r.get("ws_short")), Integer.parseInt(r.get("ws_long"))), s.windows(st),
                    "windows at step " + st);
        }
    }

    @Test void lrMultiplierEqualsFixture() {
        for (var r : rows) assertEquals(d(r, "lr_multiplier"), s.lrMultiplier(step(r)), 1e-9, "lr at step " + step(r));
    }

    @Test void muonMomentumEqualsFixture() {
        for (var r : rows) assertEquals(d(r, "muon_momentum"), s.muonMomentum(step(r)), 1e-9, "momentum at step " + step(r));
    }

    @Test void adamStepsEqualFixture() {
        for (var r : rows) assertEquals("1".equals(r.get("adam_steps")), s.adamSteps(step(r)), "adam at step " + step(r));
    }

    @Test void transitionsAreWhereBatchOrWindowsChangeAndFreezeScalars() {
        int freeze = s.config().transitionFreezeSteps();
        List<Integer> changes = new ArrayList<>();
        for (int i = 1; i < rows.size(); i++) {
            var a = rows.get(i - 1);
            var b = rows.get(i);
            boolean changed = !a.get("batch_tokens").equals(b.get("batch_tokens")) || !a.get("ws_long").equals(b.get("ws_long"))
                    || !a.get("ws_short").equals(b.get("ws_short"));
            assertEquals(changed, s.isTransition(i), "transition at step " + i);
            if (changed) changes.add(i);
        }
        assertFalse(changes.isEmpty());
        for (var r : rows) {
            int st = step(r);
            boolean frozen = changes.stream().anyMatch(c -> st >= c && st < c + freeze);
            assertEquals(frozen, s.scalarsFrozen(st), "scalars frozen at step " + st);
        }
    }

    @Test void validationCadenceAndFinalWindow() {
        int every = s.config().valEvery();
        int last = s.totalSteps();
        for (var r : rows) {
            int st = step(r);
            assertEquals(st % every == 0 || st == last, s.validateAt(st), "validation at step " + st);
            Windows expect = st == last ? new Windows(s.config().finalWindowShort(), s.config().finalWindowLong()) : s.windows(st);
            assertEquals(expect, s.validationWindows(st), "validation windows at step " + st);
        }
        // the final window is wider than any training window
        assertTrue(s.finalValidationWindows().longBlocks() > s.windows(last).longBlocks());
    }

    @Test void schedulesAreSchedules() {
        Schedule<Double> lr = s.lrMultiplierSchedule();
        for (var r : rows) assertEquals(s.lrMultiplier(step(r)), lr.at(step(r)));
    }

    @Test void configRejectsMismatchedPhases() {
        var c = assertDoesNotThrow(RecordSchedulesTest::record178);
        var ex = assertThrows(IllegalArgumentException.class, () -> new ScheduleConfig(c.scheduledSteps(), c.extensionSteps(),
                c.batchTokens(), c.extensionBatchTokens(), c.windowLong().subList(0, 1), c.extensionWindowLong(),
                c.finalWindowLong(), c.finalWindowShort(), c.lrMax(), c.cooldownFrac(), c.minLrMult(), c.momentumMin(),
                c.momentumMax(), c.momentumWarmupSteps(), c.momentumCooldownSteps(), c.transitionFreezeSteps(), c.valEvery()));
        assertTrue(ex.getMessage().contains("window_long"), ex.getMessage());
    }
}
