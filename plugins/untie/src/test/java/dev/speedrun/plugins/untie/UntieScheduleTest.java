package dev.speedrun.plugins.untie;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.speedrun.schedules.ScheduleConfig;
import dev.speedrun.testsupport.Fixtures;
import dev.speedrun.testsupport.ProjectRoot;
import java.util.List;
import org.junit.jupiter.api.Test;

class UntieScheduleTest {
    static final ObjectMapper M = new ObjectMapper(new YAMLFactory())
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    @Test void splitAndCopyStepsEqualFixture() throws Exception {
        JsonNode cfg = M.readTree(ProjectRoot.configs().resolve("record-178.yaml").toFile());
        ScheduleConfig sc = M.treeToValue(cfg.get("schedule"), ScheduleConfig.class);
        UntieOptions opts = M.treeToValue(cfg.get("plugin_options").get("untie"), UntieOptions.class);
        UntieSchedule u = UntieSchedule.of(opts, sc.scheduledSteps());
        assertEquals(u, UntieSchedule.of(UntieOptions.DEFAULT, sc.scheduledSteps()), "config fraction = default 2/3");
        List<String> lines = Fixtures.lines("schedules_record178.csv");
        List<String> head = List.of(lines.getFirst().split(","));
        int split = head.indexOf("embed_split"), copy = head.indexOf("copy_lm_to_embed_after_step");
        int copies = 0;
        for (String l : lines.subList(1, lines.size())) {
            String[] f = l.split(",", -1);
            int step = Integer.parseInt(f[0]);
            assertEquals("1".equals(f[split]), u.split(step), "embed split at step " + step);
            assertEquals("1".equals(f[copy]), u.copyAfterStep() == step, "copy after step " + step);
            if ("1".equals(f[copy])) copies++;
        }
        assertEquals(1, copies);
        assertEquals(1, u.copyAfterStep() & 1, "the copy follows an Adam (odd) step");
    }

    @Test void fractionIsConfigurableAndValidated() {
        assertEquals(50, UntieSchedule.of(new UntieOptions(0.5), 100).splitStep());
        assertEquals(49, UntieSchedule.of(new UntieOptions(0.5), 100).copyAfterStep());
        assertEquals(1, UntieSchedule.of(new UntieOptions(1.0 / 3.0), 3).splitStep());
        assertThrows(IllegalArgumentException.class, () -> new UntieOptions(0));
        assertThrows(IllegalArgumentException.class, () -> new UntieOptions(1.5));
    }
}
