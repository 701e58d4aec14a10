package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.speedrun.app.config.ConfigException;
import dev.speedrun.app.config.ConfigLoader;
import dev.speedrun.app.config.TrainConfig;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.model.Checkpoints;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.Parameter;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Faults of a run in this process: non-finite numbers, a failing disk, corrupted and foreign
 * checkpoint files, resuming under another configuration or world size.
 */
class FaultsTest {
    @TempDir static Path tmp;
    static Path config;

    @BeforeAll static void corpus() throws Exception {
        config = TinyRunConfig.write(tmp, 3, 1);
    }

    /** The tiny config with {@code extra} (YAML) merged over it, as a file of its own. */
    static Path variant(String name, String extra) throws IOException {
        Path p = tmp.resolve(name + ".yaml");
        var tree = ConfigLoader.readTree(config.toString());
        ConfigLoader.merge(tree, ConfigLoader.mapper().readTree(extra));
        Files.writeString(p, ConfigLoader.toYaml(tree));
        return p;
    }

    static Path onlyRun(Path out) throws IOException {
        try (Stream<Path> s = Files.list(out)) { return s.filter(Files::isDirectory).findFirst().orElseThrow(); }
    }

    static GptConfig modelOf(TrainConfig cfg) {
        var m = cfg.model();
        return GptConfig.withSizes(m.vocabSize(), m.numLayers(), m.numHeads(), m.headDim(), m.modelDim(), m.blockSize(), m.gateInputDims());
    }

    @Test void theGuardNamesTheFirstNonFiniteGradient() {
        TrainConfig cfg = ConfigLoader.load(config.toString(), Map.of());
        try (Gpt model = new Gpt(modelOf(cfg), Kernels.cpu(), DType.F32, 64, 1, 0);
             var arena = Kernels.cpu().backend().newArena()) {
            FiniteGuard guard = new FiniteGuard(model, Kernels.cpu());
            List<Parameter> ps = model.parameters();
            assertEquals(ps.size(), guard.slots());
            // the slots sit after other statistics in the step's tensor: check at an offset
            int off = TrainStep.GUARD;
            Tensor sums = arena.allocate(DType.F32, off + guard.slots());
            java.util.function.IntConsumer check = step -> {
                guard.sumGradients(sums.view(off, guard.slots()));
                guard.check(step, HostData.toDoubles(sums), off);
            };
            model.zeroGrads();
            check.accept(0);   // all finite: passes
            Parameter late = ps.get(ps.size() - 1), early = ps.get(ps.size() / 2);
            HostData.write(late.grad().reshape(late.grad().numel()).view(late.grad().numel() / 3, 1), new double[] {Double.NaN});
            var e = assertThrows(FiniteGuard.NonFiniteException.class, () -> check.accept(7));
            assertTrue(e.getMessage().contains("'" + late.name() + "'") && e.getMessage().contains("NaN") && e.getMessage().startsWith("step 7"),
                    e.getMessage());
            assertEquals(7, e.step);
            HostData.write(early.grad().reshape(early.grad().numel()).view(0, 1), new double[] {Double.POSITIVE_INFINITY});
            e = assertThrows(FiniteGuard.NonFiniteException.class, () -> check.accept(8));
            assertTrue(e.getMessage().contains("'" + early.name() + "'") && e.getMessage().contains("Infinity"),
                    "the first tensor in parameter order: " + e.getMessage());
            // finite values again: the slots are overwritten, not accumulated, so the guard passes
            model.zeroGrads();
            check.accept(9);
        }
    }

    @Test void aHugeLearningRateStopsTheRunAtTheBadStep() throws Exception {
        Path cfg = variant("huge-lr", "{optim: {normuon: {lr: 1.0e30}, adam: {lr: 1.0e30}, adam_scalars: {lr: 1.0e30}}}");
        Path out = tmp.resolve("nan");
        CliRun r = CliRun.of("train", "--config", cfg.toString(), "--out", out.toString());
        assertEquals(Main.EXIT_NON_FINITE, r.code(), r.err());
        String line = r.err().strip();
        assertFalse(line.contains("\n"), "one line: " + line);
        var m = java.util.regex.Pattern.compile("step (\\d+): non-finite .*last good checkpoint: (\\S+)$").matcher(line);
        assertTrue(m.find(), line);
        int bad = Integer.parseInt(m.group(1));
        Path good = Path.of(m.group(2));
        Path run = onlyRun(out);
        if (bad > 0) {
            assertEquals(TrainCheckpoint.folder(run, bad), good, "checkpoint every step: the one before the bad step");
            TrainCheckpoint.verify(good);
        }
        // nothing after the bad step: no metrics line of it or later, no checkpoint past it
        ObjectMapper json = new ObjectMapper();
        for (String l : Files.readAllLines(RunLog.metricsFile(run))) {
            var n = json.readTree(l);
            assertTrue(n.get("step").asInt() <= bad, "a line past the bad step " + bad + ": " + l);
            if (!n.get("train_loss").isNull()) assertTrue(Double.isFinite(n.get("train_loss").asDouble()), l);
        }
        try (Stream<Path> s = Files.list(run.resolve("checkpoints"))) {
            for (Path p : s.filter(p -> p.getFileName().toString().startsWith("step-")).toList())
                assertTrue(p.getFileName().toString().compareTo(String.format("step-%06d", bad)) <= 0, "checkpoint past the bad step: " + p);
        }
    }

    @Test void aWriteFailureDuringACheckpointKeepsThePreviousOne() throws Exception {
        Path cfg = variant("every2", "{checkpoint: {every: 2}}");
        TrainCommand c = TinyRunConfig.command(cfg, tmp.resolve("disk"), null, 6);
        Checkpoints.WriteHook old = Checkpoints.setWriteHook((target, offset, bytes) -> {
            if (target.toString().contains("step-000004") && target.getFileName().toString().equals("optimizer.safetensors") && offset > 0)
                throw new IOException("No space left on device");
        });
        UncheckedIOException e;
        try {
            e = assertThrows(UncheckedIOException.class, c::call);
        } finally {
            Checkpoints.setWriteHook(old);
        }
        Path run = onlyRun(tmp.resolve("disk"));
        Path failed = run.resolve("checkpoints/step-000004.tmp/optimizer.safetensors");
        assertTrue(e.getMessage().contains(failed.toString()) && e.getMessage().contains("No space left"), e.getMessage());
        Path prev = TrainCheckpoint.folder(run, 2);
        TrainCheckpoint.verify(prev);
        assertEquals(prev, TrainCheckpoint.resolve(run), "the previous checkpoint is the one to resume");
        assertEquals(prev.getFileName().toString(), Files.readString(run.resolve("checkpoints/latest")).strip());
        try (Stream<Path> s = Files.walk(run.resolve("checkpoints"))) {
            List<Path> left = s.filter(p -> p.toString().contains("step-000004")).toList();
            assertEquals(List.of(), left, "nothing of the failed checkpoint remains");
        }
    }

    @Test void anUnwritableRunFolderIsOneLineNamingThePath() throws Exception {
        Path blocker = tmp.resolve("a-file");
        Files.writeString(blocker, "not a folder");
        Path out = blocker.resolve("runs");
        CliRun r = CliRun.of("train", "--config", config.toString(), "--out", out.toString(), "--steps", "1");
        assertEquals(Main.EXIT_ERROR, r.code(), r.err());
        String line = r.err().strip();
        assertFalse(line.contains("\n") || line.contains("\tat "), "one line, no stack trace: " + line);
        assertTrue(line.startsWith("error: ") && line.contains(blocker.toString()), line);
    }

    @Test void corruptedTruncatedAndForeignCheckpointFilesAreRejectedByName() throws Exception {
        Path cfg = variant("every2b", "{checkpoint: {every: 2}}");
        TrainCommand a = TinyRunConfig.command(cfg, tmp.resolve("good"), null, 4);
        assertEquals(0, a.call());
        Path run = a.lastResult.runDir();
        TrainCommand other = TinyRunConfig.command(variant("seed9", "{seed: 9, checkpoint: {every: 2}}"), tmp.resolve("other"), null, 4);
        assertEquals(0, other.call());
        Path foreign = other.lastResult.checkpoint();
        Path ck = TrainCheckpoint.folder(run, 4), earlier = TrainCheckpoint.folder(run, 2);
        record Damage(String file, Consumer<Path> how) {}
        List<Damage> damages = List.of(
                new Damage("model.safetensors", f -> truncate(f, Files.exists(f) ? size(f) / 2 : 0)),
                new Damage("optimizer.safetensors", FaultsTest::flipAByte),
                new Damage("grads-rank0.safetensors", f -> copy(foreign.resolve("model.safetensors"), f)),
                new Damage("state.properties", f -> append(f, "data.cursor=0\n")),
                new Damage("model.safetensors", f -> copy(foreign.resolve(f.getFileName()), f)),
                new Damage("stray.bin", f -> append(f, "x")),
                new Damage("optimizer.safetensors", f -> delete(f)));
        int rejected = 0;
        for (Damage d : damages) {
            Path copy = run.resolve("checkpoints/step-000004");
            Path backup = tmp.resolve("backup-" + rejected);
            copyTree(ck, backup);
            d.how().accept(copy.resolve(d.file()));
            // what a resume of the run does first: its newest complete checkpoint, every file against the manifest
            var e = assertThrows(IllegalArgumentException.class, () -> TrainCheckpoint.verify(TrainCheckpoint.resolve(run)), d.toString());
            assertTrue(e.getMessage().contains(d.file()) && e.getMessage().contains("--resume " + earlier), d.file() + ": " + e.getMessage());
            rejected++;
            TrainCheckpoint.deleteTree(ck);
            copyTree(backup, ck);
        }
        TrainCheckpoint.verify(ck);   // restored: accepted again
        System.out.println("FaultsTest: " + rejected + " damaged checkpoints rejected by name");
    }

    @Test void resumingUnderAnotherConfigurationNamesWhatDiffers() throws Exception {
        Path cfg = variant("every2c", "{checkpoint: {every: 2}}");
        TrainCommand a = TinyRunConfig.command(cfg, tmp.resolve("cfgdiff"), null, 2);
        assertEquals(0, a.call());
        Path wider = variant("wider", "{checkpoint: {every: 2}, model: {model_dim: 32, head_dim: 16}, plugins: [mtp]}");
        TrainCommand b = TinyRunConfig.command(wider, tmp.resolve("unused"), null, 4);
        b.resume = a.lastResult.runDir();
        Path runConfig = a.lastResult.runDir().resolve("config.yaml");
        String before = Files.readString(runConfig);
        var e = assertThrows(ConfigException.class, b::call);
        for (String key : List.of("model.model_dim", "model.head_dim", "plugins"))
            assertTrue(e.getMessage().contains(key + ":"), key + " in: " + e.getMessage());
        assertFalse(e.getMessage().contains("checkpoint.every"), "a cadence change is allowed: " + e.getMessage());
        assertEquals(before, Files.readString(runConfig), "a refused resume leaves the run's config.yaml as it was");
    }

    @Test void worldSizeChangesOnlyWhereTheStateCanBeResharded() throws Exception {
        TrainCommand two = TinyRunConfig.command(config, tmp.resolve("ws"), null, 4);
        two.worldSize = 2;
        assertEquals(0, two.call());
        Path run = two.lastResult.runDir();
        // after an odd number of steps Adam holds two ranks' pending gradients: not re-shardable
        TrainCommand odd = TinyRunConfig.command(config, tmp.resolve("unused"), null, 5);
        odd.worldSize = 1;
        odd.resume = TrainCheckpoint.folder(run, 3);
        var e = assertThrows(ConfigException.class, odd::call);
        assertTrue(e.getMessage().contains("world_size 2") && e.getMessage().contains("--world-size 2"), e.getMessage());
        // after an even number (Adam just stepped) there is nothing per rank: one rank continues
        TrainCommand even = TinyRunConfig.command(config, tmp.resolve("unused"), null, 5);
        ByteArrayOutputStream console = new ByteArrayOutputStream();
        even.console = new PrintStream(console, true, StandardCharsets.UTF_8);
        even.worldSize = 1;
        even.resume = TrainCheckpoint.folder(run, 4);
        assertEquals(0, even.call(), console.toString());
        assertTrue(console.toString().contains("re-sharding the checkpoint of world_size 2 onto 1"), console.toString());
        assertTrue(Double.isFinite(even.lastResult.lastTrainLoss()));
    }

    // ------------------------------------------------------------------------ file damage helpers

    static long size(Path f) {
        try { return Files.size(f); } catch (IOException e) { throw new UncheckedIOException(e); }
    }

    static void truncate(Path f, long to) {
        try (var ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.WRITE)) { ch.truncate(to); }
        catch (IOException e) { throw new UncheckedIOException(e); }
    }

    static void flipAByte(Path f) {
        try {
            byte[] b = Files.readAllBytes(f);
            b[b.length - 3] ^= 0x10;
            Files.write(f, b);
        } catch (IOException e) { throw new UncheckedIOException(e); }
    }

    static void copy(Path from, Path to) {
        try { Files.copy(from, to, StandardCopyOption.REPLACE_EXISTING); } catch (IOException e) { throw new UncheckedIOException(e); }
    }

    static void append(Path f, String s) {
        try { Files.writeString(f, s, java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND); }
        catch (IOException e) { throw new UncheckedIOException(e); }
    }

    static void delete(Path f) {
        try { Files.delete(f); } catch (IOException e) { throw new UncheckedIOException(e); }
    }

    static void copyTree(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        List<Path> files = new ArrayList<>();
        try (Stream<Path> s = Files.list(from)) { s.forEach(files::add); }
        for (Path f : files) Files.copy(f, to.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
    }
}
