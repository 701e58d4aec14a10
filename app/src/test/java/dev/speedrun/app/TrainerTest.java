package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import com.google.inject.Guice;
import com.google.inject.Module;
import dev.speedrun.app.config.ConfigLoader;
import dev.speedrun.app.config.TrainConfig;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.model.Checkpoints;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** End-to-end runs of a very small model on a small generated corpus. */
class TrainerTest {
    @TempDir static Path tmp;
    static Path config;

    @BeforeAll static void corpus() throws Exception {
        config = TinyRunConfig.write(tmp, 7, 2);
    }

    static TrainCommand command(String out, List<String> plugins, Integer steps) {
        return TinyRunConfig.command(config, tmp.resolve(out), plugins, steps);
    }

    static Trainer.Result train(String out, List<String> plugins, Integer steps) throws Exception {
        TrainCommand c = command(out, plugins, steps);
        assertEquals(0, c.call());
        return c.lastResult;
    }

    static List<String> record = List.of("mtp", "untie", "cwd", "adam-cwd-strict");

    @Test void resumeIsBitExact() throws Exception {
        Trainer.Result full = train("full", record, 6);
        Trainer.Result half = train("half", record, 3);
        TrainCommand resume = command("ignored", record, 6);
        resume.resume = half.runDir();
        assertEquals(0, resume.call());
        Trainer.Result resumed = resume.lastResult;
        assertEquals(half.runDir(), resumed.runDir(), "a resume continues in the run's folder");
        for (String f : new String[] {"model.safetensors", "optimizer.safetensors", "grads-rank0.safetensors"})
            assertEquals(-1, Files.mismatch(full.checkpoint().resolve(f), resumed.checkpoint().resolve(f)), f + " differs after resume");
        assertEquals(full.lastValLoss(), resumed.lastValLoss());
        assertEquals(full.lastTrainLoss(), resumed.lastTrainLoss());
        // metrics: one train line per step, no duplicates after the resume
        List<String> lines = Files.readAllLines(resumed.metrics());
        long trainLines = lines.stream().filter(l -> l.contains("\"val_loss\":null")).count();
        assertEquals(6, trainLines, String.join("\n", lines));
        assertEquals(Files.readAllLines(full.metrics()).size(), lines.size());
    }

    @Test void outputsAndFallingLoss() throws Exception {
        Trainer.Result r = train("out", record, null);
        assertTrue(Files.isRegularFile(r.runDir().resolve("config.yaml")));
        String cfg = Files.readString(r.runDir().resolve("config.yaml"));
        assertTrue(cfg.contains("hardware") && cfg.contains("versions") && cfg.contains("adam-cwd-strict"), cfg);
        // the resolved config is itself a usable config
        ConfigLoader.load(r.runDir().resolve("config.yaml").toString(), Map.of());
        assertTrue(Files.readString(r.plot()).startsWith("<svg"));
        var json = new com.fasterxml.jackson.databind.ObjectMapper();
        for (String l : Files.readAllLines(r.metrics())) {
            var n = json.readTree(l);
            for (String k : new String[] {"step", "train_loss", "val_loss", "lr", "tokens", "time_ms"}) assertTrue(n.has(k), k + " in " + l);
        }
        assertTrue(r.valLosses().getLast() < r.valLosses().getFirst(), "val loss falls: " + r.valLosses());
        assertTrue(Files.isRegularFile(r.runDir().resolve("checkpoints/latest")));
        assertTrue(Files.isDirectory(r.runDir().resolve("checkpoints/step-000002")), "periodic checkpoint");
        assertFalse(Files.list(r.runDir().resolve("checkpoints")).anyMatch(p -> p.toString().endsWith(".tmp")));
    }

    @Test void mtpOffIsPlainCrossEntropy() throws Exception {
        Trainer.Result plain = train("plain", List.of(), 1);
        Trainer.Result mtp = train("mtp", List.of("mtp"), 1);
        // step 0 from the same init: next-token CE ≈ ln(V) for both; MTP adds the weighted 2- and 3-ahead terms
        assertEquals(plain.valLosses().getFirst(), mtp.valLosses().getFirst(), "validation is next-token only");
        assertEquals(plain.firstTrainLoss(), plain.valLosses().getFirst(), 0.05 * plain.firstTrainLoss());
        double ratio = mtp.firstTrainLoss() / plain.firstTrainLoss();
        assertEquals(1.75, ratio, 0.05, "weights [1, 0.5, 0.25] at step 0");
    }

    @Test void untieCopiesHeadIntoEmbedAndOffStaysTied() throws Exception {
        // split at ceil(6·2/3) = 4, copy after step 3: stop after 4 steps (0..3)
        Trainer.Result on = train("untie-on", List.of("untie"), 4);
        Trainer.Result off = train("untie-off", List.of(), 4);
        GptConfig gc = GptConfig.withSizes(50257, 11, 2, 8, 16, 4, 12);
        try (Gpt a = new Gpt(gc, Kernels.cpu(), DType.F32, 64, 1, 0); Gpt b = new Gpt(gc, Kernels.cpu(), DType.F32, 64, 1, 0)) {
            Checkpoints.load(a, on.checkpoint().resolve("model.safetensors"));
            Checkpoints.load(b, off.checkpoint().resolve("model.safetensors"));
            assertArrayEquals(HostData.toFloats(a.get("lm_head.weight").value()), HostData.toFloats(a.get("embed.weight").value()),
                    "untie: embed = lm_head after the copy step");
            float[] init;
            try (Gpt fresh = new Gpt(gc, Kernels.cpu(), DType.F32, 64, 1, 0)) { init = HostData.toFloats(fresh.get("embed.weight").value()); }
            assertArrayEquals(init, HostData.toFloats(b.get("embed.weight").value()), "untie off: embed never trains");
        }
    }

    @Test void decayMasksFollowThePlugins() {
        record Case(List<String> plugins, DecayMask normuon, DecayMask adam) {}
        for (Case c : List.of(new Case(List.of(), DecayMask.ALL, DecayMask.ALL), new Case(List.of("cwd"), DecayMask.GE, DecayMask.GE),
                new Case(List.of("cwd", "adam-cwd-strict"), DecayMask.GE, DecayMask.GT),
                new Case(List.of("adam-cwd-strict", "cwd"), DecayMask.GE, DecayMask.GT))) {
            TrainConfig cfg = ConfigLoader.load(config.toString(), Map.of("plugins", c.plugins()));
            List<Module> modules = new ArrayList<>(List.of(new CoreModule(cfg)));
            for (var s : PluginRegistry.discover(List.of()).select(cfg.plugins(), cfg.pluginOptions(), "test")) modules.add(s.module());
            TrainingParts t = TrainingParts.of(Guice.createInjector(modules));
            assertEquals(c.normuon(), t.normuonMask(), c.toString());
            assertEquals(c.adam(), t.adamMask(), c.toString());
        }
    }
}
