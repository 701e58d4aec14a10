package dev.speedrun.app.research;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.speedrun.app.PluginOptions;
import dev.speedrun.app.PluginRegistry;
import dev.speedrun.app.RunLauncher;
import dev.speedrun.app.Trainer;
import dev.speedrun.app.config.ConfigException;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code sweep FILE.yaml}: expands a sweep file ({@link SweepSpec}) into runs, validates every one
 * of them before anything runs, shows the plan and trains them one after the other into
 * {@code <out>/<sweep>/<run>/}. Each finished run gets a {@code result.json}; with
 * {@code --resume} finished runs are skipped and a run that has a checkpoint continues from it
 * (bit-exactly, as {@code train --resume}). A run that fails gets a {@code failed.json} and the
 * sweep goes on with the next one.
 */
@Command(name = "sweep", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Run a sweep: a base config plus a matrix (plugin sets, options, any config key, seeds), one run per combination",
                "into runs/<sweep>/<run>/. Then: train-app compare runs/<sweep>."})
public final class SweepCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE.yaml", description = "The sweep file (base, set, matrix; optional name, target, out, plugin_path).") Path file;
    @Option(names = "--resume", description = "Continue the sweep in its folder: skip finished runs, resume a run from its last checkpoint.") boolean resume;
    @Option(names = "--dry-run", description = "Validate and show the plan, run nothing.") boolean dryRun;
    @Option(names = "--limit", paramLabel = "N", description = "Train at most N runs in this invocation (the rest with --resume later).") Integer limit;
    @Option(names = "--out", paramLabel = "DIR", description = "Parent folder of the sweep (default: the file's 'out', else runs).") String out;
    @Mixin PluginOptions plugin = new PluginOptions();

    PrintStream console = System.out;

    /** What was planned, for tests. */
    record Planned(SweepSpec.Run run, RunLauncher.Prepared prepared, Path dir) {}

    static final String RESULT = "result.json", FAILED = "failed.json", SWEEP_RUN = "sweep-run.json", SWEEP_FILE = "sweep.yaml";

    @Override public Integer call() throws IOException {
        SweepSpec spec = SweepSpec.read(file);
        List<Path> paths = new ArrayList<>(plugin.pluginPath());
        for (String p : spec.pluginPath()) paths.add(file.toAbsolutePath().getParent().resolve(p));
        PluginRegistry registry = PluginRegistry.discover(paths);
        String where = "sweep " + file;
        // every run validated before anything runs: keys, values, plugins, options, backend
        try {
            RunLauncher.prepare(spec.base(), new java.util.LinkedHashMap<>(spec.set()), registry);
        } catch (ConfigException e) {
            throw new ConfigException(where + ", set: " + e.getMessage(), e);
        }
        for (String k : spec.matrix().keySet()) checkMatrixKey(spec, k, registry, where);
        Path sweepDir = Path.of(out != null ? out : spec.out() != null ? spec.out() : "runs").resolve(spec.name());
        List<Planned> plan = new ArrayList<>();
        for (SweepSpec.Run r : spec.runs()) {
            RunLauncher.Prepared p;
            try {
                p = RunLauncher.prepare(spec.base(), r.overrides(), registry);
            } catch (ConfigException e) {
                throw new ConfigException(where + ", run " + r.name() + ": " + e.getMessage(), e);
            }
            plan.add(new Planned(r, p, sweepDir.resolve(r.name())));
        }
        for (Planned p : plan) RunLauncher.requireAvailable(p.prepared());
        if (Files.isRegularFile(sweepDir.resolve(SWEEP_FILE)) && !resume && !dryRun)
            throw new ConfigException("sweep folder " + sweepDir + " already holds a sweep: --resume continues it (or give another name/--out)");

        // the plan
        int total = plan.size(), finished = 0;
        long stepsLeft = 0, stepsDone = 0;
        double msPerStepSeen = 0;
        int seen = 0;
        console.printf("sweep %s: base %s, %d run%s, into %s%n", spec.name(), spec.base(), total, total == 1 ? "" : "s", sweepDir);
        console.printf("  %-4s %-48s %6s  %s%n", "#", "run", "steps", "status");
        for (int i = 0; i < total; i++) {
            Planned p = plan.get(i);
            int steps = p.prepared().config().trainSteps();
            String status;
            if (Files.isRegularFile(p.dir().resolve(RESULT))) {
                status = "finished";
                finished++;
                stepsDone += steps;
                ObjectNode res = (ObjectNode) new ObjectMapper().readTree(p.dir().resolve(RESULT).toFile());
                if (res.hasNonNull("wall_s") && steps > 0) { msPerStepSeen += res.get("wall_s").asDouble() * 1000 / steps; seen++; }
            } else {
                Path ck = RunLauncher.latestCheckpoint(p.dir());
                int at = ck == null ? 0 : RunLauncher.checkpointStep(ck);
                status = ck == null ? (Files.exists(p.dir()) ? "restart (no checkpoint)" : "to run") : "resume from step " + at;
                stepsLeft += steps - at;
            }
            console.printf("  %-4d %-48s %6d  %s%n", i + 1, p.run().name(), steps, status);
        }
        String estimate = seen > 0 ? duration(stepsLeft * msPerStepSeen / seen / 1000) + " (from the finished runs)"
                : "known after the first run";
        console.printf("  %d to train (%d steps), %d finished; estimated time %s%n", total - finished, stepsLeft, finished, estimate);
        if (dryRun) return 0;

        Files.createDirectories(sweepDir);
        if (!Files.isRegularFile(sweepDir.resolve(SWEEP_FILE))) atomicWrite(sweepDir.resolve(SWEEP_FILE), Files.readString(file));

        long t0 = System.nanoTime();
        long stepsTrainedNow = 0;
        int ran = 0, failed = 0, k = finished;
        for (Planned p : plan) {
            if (Files.isRegularFile(p.dir().resolve(RESULT))) continue;
            if (limit != null && ran >= limit) {
                console.printf("sweep: stopping after %d run%s (--limit); continue with --resume%n", ran, ran == 1 ? "" : "s");
                break;
            }
            k++;
            ran++;
            Files.createDirectories(p.dir());
            Files.deleteIfExists(p.dir().resolve(FAILED));
            writeRunInfo(spec, p);
            Path ck = RunLauncher.latestCheckpoint(p.dir());
            int from = ck == null ? 0 : RunLauncher.checkpointStep(ck);
            int steps = p.prepared().config().trainSteps();
            console.printf("sweep [%d/%d] %s: %s%n", k, total, p.run().name(), ck == null ? "training " + steps + " steps"
                    : "resuming at step " + from + " of " + steps);
            long r0 = System.nanoTime();
            try (OutputStream logOut = Files.newOutputStream(p.dir().resolve("train.log"), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                 PrintStream log = new PrintStream(logOut, true, StandardCharsets.UTF_8)) {
                Trainer.Result r;
                try {
                    r = RunLauncher.run(p.prepared(), p.dir(), ck, log);
                } catch (RuntimeException e) {
                    failed++;
                    e.printStackTrace(log);
                    ObjectNode f = new ObjectMapper().createObjectNode().put("run", p.run().name()).put("status", "failed")
                            .put("error", String.valueOf(e.getMessage())).put("type", e.getClass().getName());
                    atomicWrite(p.dir().resolve(FAILED), f.toPrettyString() + "\n");
                    console.printf("sweep [%d/%d] %s: FAILED: %s (see %s)%n", k, total, p.run().name(), e.getMessage(), p.dir().resolve("train.log"));
                    if (plugin.verbose()) e.printStackTrace(console);
                    continue;
                }
                double wall = (System.nanoTime() - r0) / 1e9;
                ObjectNode res = new ObjectMapper().createObjectNode();
                res.put("run", p.run().name()).put("group", p.run().group()).put("status", "finished").put("steps", steps)
                        .put("final_val_loss", r.lastValLoss()).put("train_time_ms", trainTimeMs(p.dir()))
                        .put("wall_s", Math.round(wall * 1000) / 1000.0).put("resumed_from_step", from);
                atomicWrite(p.dir().resolve(RESULT), res.toPrettyString() + "\n");
                stepsTrainedNow += steps - from;
                stepsLeft -= steps - from;
                double elapsed = (System.nanoTime() - t0) / 1e9;
                double eta = stepsTrainedNow == 0 ? 0 : elapsed / stepsTrainedNow * stepsLeft;
                console.printf(Locale.ROOT, "sweep [%d/%d] %s: final val_loss %.4f, %s; sweep %d%% of steps, elapsed %s, eta %s%n", k, total,
                        p.run().name(), r.lastValLoss(), duration(wall),
                        100 * (stepsDone + stepsTrainedNow) / Math.max(1, stepsDone + stepsTrainedNow + stepsLeft), duration(elapsed), duration(eta));
            }
        }
        int done = 0;
        for (Planned p : plan) if (Files.isRegularFile(p.dir().resolve(RESULT))) done++;
        console.printf("sweep %s: %d of %d runs finished%s; next: train-app compare %s%n", spec.name(), done, total,
                failed > 0 ? ", " + failed + " failed" : "", sweepDir);
        return failed > 0 ? 1 : 0;
    }

    /**
     * A matrix key alone on the base: an unknown key or a value of the wrong type is reported
     * against the key and value, before the combinations.
     */
    private static void checkMatrixKey(SweepSpec spec, String key, PluginRegistry registry, String where) {
        for (var v : spec.matrix().get(key)) {
            var overrides = new java.util.LinkedHashMap<String, Object>(spec.set());
            java.util.Map<String, com.fasterxml.jackson.databind.JsonNode> flat = new java.util.LinkedHashMap<>();
            SweepSpec.flatten(key, v, flat);
            overrides.putAll(flat);
            try {
                RunLauncher.prepare(spec.base(), overrides, registry);
            } catch (ConfigException e) {
                throw new ConfigException(where + ", matrix key '" + key + "' value " + v + ": " + e.getMessage(), e);
            }
        }
    }

    private static void writeRunInfo(SweepSpec spec, Planned p) throws IOException {
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("sweep", spec.name()).put("run", p.run().name()).put("group", p.run().group());
        if (spec.target() != null) o.put("target", spec.target());
        ObjectNode vals = o.putObject("values");
        p.run().values().forEach(vals::set);
        atomicWrite(p.dir().resolve(SWEEP_RUN), o.toPrettyString() + "\n");
    }

    /** The training time (clock stopped during validation) at the end of a run's metrics. */
    static double trainTimeMs(Path runDir) throws IOException {
        double t = Double.NaN;
        Path m = runDir.resolve("metrics.jsonl");
        if (!Files.isRegularFile(m)) return t;
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(m)) if (!line.isBlank()) t = json.readTree(line).path("time_ms").asDouble(t);
        return t;
    }

    static void atomicWrite(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    static String duration(double s) {
        if (!Double.isFinite(s)) return "?";
        long t = Math.round(s);
        return t >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", t / 3600, t % 3600 / 60)
                : t >= 60 ? String.format(Locale.ROOT, "%dm%02ds", t / 60, t % 60) : String.format(Locale.ROOT, "%.1fs", s);
    }
}
