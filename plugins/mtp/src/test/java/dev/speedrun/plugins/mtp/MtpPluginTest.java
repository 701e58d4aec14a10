package dev.speedrun.plugins.mtp;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.google.inject.AbstractModule;
import com.google.inject.Guice;
import com.google.inject.Injector;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.plugin.Plugin;
import dev.speedrun.plugin.TokenWeights;
import dev.speedrun.schedules.ScheduleConfig;
import dev.speedrun.testsupport.Fixtures;
import dev.speedrun.testsupport.ProjectRoot;
import java.util.List;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;

class MtpPluginTest {
    static final ObjectMapper M = new ObjectMapper(new YAMLFactory())
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    static JsonNode record178() throws Exception { return M.readTree(ProjectRoot.configs().resolve("record-178.yaml").toFile()); }

    /** An injector as the trainer builds it: core defaults + the plugin's module. */
    static Injector injector(ScheduleConfig sc, com.google.inject.Module... plugins) {
        return Guice.createInjector(new AbstractModule() {
            @Override protected void configure() {
                bind(ScheduleConfig.class).toInstance(sc);
                Extensions.tokenWeights(binder()).setDefault().toInstance(step -> new double[] {1.0});
                for (var m : plugins) install(m);
            }
        });
    }

    @Test void weightsEqualFixtureAtEveryStep() throws Exception {
        JsonNode cfg = record178();
        ScheduleConfig sc = M.treeToValue(cfg.get("schedule"), ScheduleConfig.class);
        MtpOptions opts = M.treeToValue(cfg.get("plugin_options").get("mtp"), MtpOptions.class);
        assertEquals(MtpOptions.record178(), opts, "the config's phases are the plugin's defaults");
        TokenWeights w = injector(sc, new MtpPlugin().module(opts)).getInstance(TokenWeights.class);
        List<String> lines = Fixtures.lines("schedules_record178.csv");
        List<String> head = List.of(lines.getFirst().split(","));
        int[] cols = {head.indexOf("mtp_w0"), head.indexOf("mtp_w1"), head.indexOf("mtp_w2")};
        for (String l : lines.subList(1, lines.size())) {
            String[] f = l.split(",", -1);
            int step = Integer.parseInt(f[0]);
            double[] got = w.at(step);
            int n = 0;
            for (int c : cols) if (!f[c].isEmpty()) n++;
            assertEquals(n, got.length, "number of MTP weights at step " + step);
            for (int j = 0; j < n; j++) assertEquals(Double.parseDouble(f[cols[j]]), got[j], 1e-12, "w" + j + " at step " + step);
        }
    }

    @Test void withoutThePluginTheLossIsNextTokenOnly() throws Exception {
        ScheduleConfig sc = M.treeToValue(record178().get("schedule"), ScheduleConfig.class);
        TokenWeights w = injector(sc).getInstance(TokenWeights.class);
        for (int step = 0; step <= sc.totalSteps(); step += 7) assertArrayEquals(new double[] {1.0}, w.at(step));
    }

    @Test void phasesAreConfigurable() {
        // two phases over 10 steps: [1, 1→0] then [1]
        var opts = new MtpOptions(List.of(new MtpOptions.Phase(List.of(1.0, 1.0), List.of(1.0, 0.0)),
                new MtpOptions.Phase(List.of(1.0), List.of(1.0))));
        var w = new MtpWeights(opts, 10);
        assertArrayEquals(new double[] {1.0, 1.0}, w.at(0));
        assertArrayEquals(new double[] {1.0, 0.6}, w.at(2), 1e-12);
        assertArrayEquals(new double[] {1.0}, w.at(5));
        assertArrayEquals(new double[] {1.0}, w.at(12));
        assertThrows(IllegalArgumentException.class, () -> new MtpOptions(List.of(new MtpOptions.Phase(List.of(1.0), List.of()))));
    }

    @Test void registeredWithServiceLoader() {
        var names = ServiceLoader.load(Plugin.class).stream().map(p -> p.get().name()).toList();
        assertTrue(names.contains(MtpPlugin.NAME), names.toString());
        assertFalse(new MtpPlugin().description().isBlank());
    }
}
