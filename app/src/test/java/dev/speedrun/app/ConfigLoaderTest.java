package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.app.config.ConfigException;
import dev.speedrun.app.config.ConfigLoader;
import dev.speedrun.app.config.PrecisionChoice;
import dev.speedrun.app.config.TrainConfig;
import dev.speedrun.model.Precision;
import dev.speedrun.tensor.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ConfigLoaderTest {
    @Test void builtInConfigsLoad() {
        for (String name : ConfigLoader.BUILT_IN) {
            TrainConfig c = ConfigLoader.load(name, Map.of());
            assertTrue(c.schedule().totalSteps() > 0, name);
            assertNotNull(c.model(), name);
            PluginRegistry.discover(List.of()).select(c.plugins(), c.pluginOptions(), name);
        }
    }

    @Test void record177OverridesOnlyWhatDiffers() {
        TrainConfig r178 = ConfigLoader.load("record-178", Map.of());
        TrainConfig r177 = ConfigLoader.load("record-177", Map.of());
        assertEquals(List.of("cwd"), r177.plugins());
        assertEquals(1.0, r178.model().qkvInitScale());
        assertEquals(0.5, r177.model().qkvInitScale());
        assertEquals(r178.model().vocabSize(), r177.model().vocabSize());
        assertEquals(r178.model().modelDim(), r177.model().modelDim());
        assertEquals(r178.schedule().batchTokens(), r177.schedule().batchTokens());
        assertNotEquals(r178.schedule().lrMax(), r177.schedule().lrMax());
    }

    @Test void overridesWin() {
        TrainConfig c = ConfigLoader.load("record-178", Map.of("seed", 7, "plugins", List.of("cwd"), "schedule.val_every", 3));
        assertEquals(7, c.seed());
        assertEquals(List.of("cwd"), c.plugins());
        assertEquals(3, c.schedule().valEvery());
    }

    @Test void unknownKeyIsNamedWithTheValidOnes(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("bad.yaml");
        Files.writeString(f, "schedule:\n  val_evry: 3\n");
        var ex = assertThrows(ConfigException.class, () -> ConfigLoader.load(f.toString(), Map.of()));
        assertTrue(ex.getMessage().contains("schedule.val_evry"), ex.getMessage());
        assertTrue(ex.getMessage().contains("val_every"), ex.getMessage());
        assertTrue(ex.getMessage().contains(f.toString()), ex.getMessage());
        Files.writeString(f, "seeed: 3\n");
        ex = assertThrows(ConfigException.class, () -> ConfigLoader.load(f.toString(), Map.of()));
        assertTrue(ex.getMessage().contains("'seeed'") && ex.getMessage().contains("seed"), ex.getMessage());
    }

    @Test void precisionKeyIsAutoInEveryBuiltInAndMisspellingsAreNamed(@TempDir Path dir) throws Exception {
        for (String name : ConfigLoader.BUILT_IN) assertEquals(PrecisionChoice.AUTO, ConfigLoader.load(name, Map.of()).precision(), name);
        assertEquals(PrecisionChoice.F64, ConfigLoader.load("tiny-cpu", Map.of("precision", "f64")).precision());
        Path f = dir.resolve("bad.yaml");
        Files.writeString(f, "precison: mixed\n");
        var ex = assertThrows(ConfigException.class, () -> ConfigLoader.load(f.toString(), Map.of()));
        assertTrue(ex.getMessage().contains("'precison'") && ex.getMessage().contains("precision"), ex.getMessage());
    }

    @Test void precisionAutoIsMixedOnCudaAndF32Elsewhere() {
        assertEquals(Precision.MIXED, PrecisionChoice.AUTO.resolve("cuda"));
        assertEquals(DType.F32, PrecisionChoice.AUTO.resolve("cpu").activations());
        assertFalse(PrecisionChoice.AUTO.resolve("cpu").specParamDTypes());
        assertEquals(DType.F64, ConfigLoader.load("tiny-cpu", Map.of("precision", "f64")).precision().resolve("cpu").activations());
        assertEquals(Precision.MIXED, ConfigLoader.load("tiny-cpu", Map.of("precision", "mixed")).precision().resolve("cpu"));
        var e = assertThrows(ConfigException.class, () -> ConfigLoader.load("tiny-cpu", Map.of("precision", "half")));
        assertTrue(e.getMessage().contains("precision") && e.getMessage().contains("'half'"), e.getMessage());
        for (String valid : List.of("auto", "mixed", "f32", "f64", "bf16")) assertTrue(e.getMessage().contains(valid), e.getMessage());
    }

    @Test void badValueIsNamed(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("bad.yaml");
        Files.writeString(f, "world_size: many\n");
        var ex = assertThrows(ConfigException.class, () -> ConfigLoader.load(f.toString(), Map.of()));
        assertTrue(ex.getMessage().contains("world_size") && ex.getMessage().contains("many"), ex.getMessage());
    }

    @Test void missingConfigListsBuiltIns() {
        var ex = assertThrows(ConfigException.class, () -> ConfigLoader.load("no-such-config", Map.of()));
        assertTrue(ex.getMessage().contains("no-such-config") && ex.getMessage().contains("tiny-cpu"), ex.getMessage());
    }

    @Test void unknownPluginAndPluginOptionAreNamed() {
        var reg = PluginRegistry.discover(List.of());
        var ex = assertThrows(ConfigException.class, () -> reg.select(List.of("mtp", "nope"), Map.of(), "test"));
        assertTrue(ex.getMessage().contains("'nope'") && ex.getMessage().contains("untie"), ex.getMessage());
        var opts = ConfigLoader.mapper().createObjectNode().put("fracton", 0.5);
        ex = assertThrows(ConfigException.class, () -> reg.select(List.of("untie"), Map.of("untie", opts), "test"));
        assertTrue(ex.getMessage().contains("plugin_options.untie.fracton") && ex.getMessage().contains("fraction"), ex.getMessage());
        var bad = ConfigLoader.mapper().createObjectNode().put("fraction", 3.0);
        ex = assertThrows(ConfigException.class, () -> reg.select(List.of("untie"), Map.of("untie", bad), "test"));
        assertTrue(ex.getMessage().contains("fraction"), ex.getMessage());
    }

    @Test void pluginOptionsOverlayDefaults() {
        var reg = PluginRegistry.discover(List.of());
        var sel = reg.select(List.of("untie"), Map.of("untie", ConfigLoader.mapper().createObjectNode().put("fraction", 0.5)), "t");
        assertTrue(sel.getFirst().options().toString().contains("0.5"), sel.getFirst().options().toString());
    }
}
