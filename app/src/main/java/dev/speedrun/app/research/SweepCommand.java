package dev.speedrun.app.research;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.speedrun.app.Main;
import dev.speedrun.app.PluginOptions;
import dev.speedrun.app.PluginRegistry;
import dev.speedrun.app.RunLauncher;
import dev.speedrun.app.Trainer;
import dev.speedrun.app.config.ConfigException;
import dev.speedrun.kernels.Ranks;
import dev.speedrun.schedules.RecordSchedules;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code sweep FILE.yaml}: expands a sweep file ({@link SweepSpec}) into runs, validates every one
 * of them before anything runs, shows the plan with an estimated time and trains the runs into
 * {@code <out>/<sweep>/<run>/}: one after the other in this process, or several at once, each in
 * a process of its own ({@code --parallel N}; on a GPU backend one run per group of
 * {@code --gpus-per-run} GPUs by default, each process seeing its group as
 * {@code CUDA_VISIBLE_DEVICES}). Each finished run gets a {@code result.json}; with
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
    @Option(names = "--parallel", paramLabel = "N",
            description = "Runs at once, each in a process of its own (default: one per GPU group on a GPU backend, else 1: one after the other here).") Integer parallel;
    @Option(names = "--gpus-per-run", paramLabel = "K",
            description = "GPUs per run on a GPU backend (default: the runs' world_size); each run's process sees its group as CUDA_VISIBLE_DEVICES.") Integer gpusPerRun;
    @Option(names = "--calibrate-steps", defaultValue = "3", paramLabel = "N",
            description = "Steps of the first run timed for the estimate while no run has finished (0: none; default ${DEFAULT-VALUE}).") int calibrateSteps;
    @Option(names = "--run", hidden = true, paramLabel = "NAME", description = "Train only this run of the sweep (the process a parallel sweep starts per run).") String onlyRun;
    @Mixin PluginOptions plugin = new PluginOptions();

    PrintStream console = System.out;

    /** This process's environment (CUDA_VISIBLE_DEVICES; tests substitute their own). */
    Map<String, String> env = System.getenv();

    /** What was planned, for tests. */
    record Planned(SweepSpec.Run run, RunLauncher.Prepared prepared, Path dir) {
        int steps() { return prepared.config().trainSteps(); }

        RecordSchedules schedules() { return prepared.injector().getInstance(RecordSchedules.class); }
    }

    /** A run that ended in this invocation: finished (with its final loss) or failed (with the error). */
    record Ended(Planned planned, boolean finished, double finalValLoss, double wallS, int from, String error) {}

    static final ObjectMapper JSON = new ObjectMapper();

    static final String RESULT = "result.json", FAILED = "failed.json", SWEEP_RUN = "sweep-run.json", SWEEP_FILE = "sweep.yaml", LOG = "train.log";

    @Override public Integer call() throws IOException {
        SweepSpec spec = SweepSpec.read(file);
        List<Path> paths = new ArrayList<>(plugin.pluginPath());
        for (String p : spec.pluginPath()) paths.add(file.toAbsolutePath().getParent().resolve(p));
        PluginRegistry registry = PluginRegistry.discover(paths);
        String where = "sweep " + file;
        Path sweepDir = Path.of(out != null ? out : spec.out() != null ? spec.out() : "runs").resolve(spec.name());
        if (onlyRun != null) return runAlone(spec, registry, sweepDir, where);
        // every run validated before anything runs: keys, values, plugins, options, backend
        try {
            RunLauncher.prepare(spec.base(), new LinkedHashMap<>(spec.set()), registry);
        } catch (ConfigException e) {
            throw new ConfigException(where + ", set: " + e.getMessage(), e);
        }
        for (String k : spec.matrix().keySet()) checkMatrixKey(spec, k, registry, where);
        List<Planned> plan = new ArrayList<>();
        for (SweepSpec.Run r : spec.runs()) plan.add(new Planned(r, prepare(spec, r, registry, where), sweepDir.resolve(r.name())));
        for (Planned p : plan) RunLauncher.requireAvailable(p.prepared());
        List<String> groups = gpuGroups(plan);
        int slots = slots(groups);
        if (Files.isRegularFile(sweepDir.resolve(SWEEP_FILE)) && !resume && !dryRun)
            throw new ConfigException("sweep folder " + sweepDir + " already holds a sweep: --resume continues it (or give another name/--out)");

        // the plan
        Progress progress = new Progress(plan.size(), slots);
        console.printf("sweep %s: base %s, %d run%s, into %s%n", spec.name(), spec.base(), plan.size(), plan.size() == 1 ? "" : "s", sweepDir);
        console.printf("  %-4s %-48s %6s  %s%n", "#", "run", "steps", "status");
        List<Planned> todo = new ArrayList<>();
        for (int i = 0; i < plan.size(); i++) {
            Planned p = plan.get(i);
            String status;
            if (Files.isRegularFile(p.dir().resolve(RESULT))) {
                status = "finished";
                JsonNode res = JSON.readTree(p.dir().resolve(RESULT).toFile());
                progress.finishedBefore(p, res.path("wall_s").asDouble(Double.NaN), res.path("resumed_from_step").asInt(0));
            } else {
                Path ck = RunLauncher.latestCheckpoint(p.dir());
                int at = ck == null ? 0 : RunLauncher.checkpointStep(ck);
                status = ck == null ? (Files.exists(p.dir()) ? "restart (no checkpoint)" : "to run") : "resume from step " + at;
                progress.planned(p, at);
                todo.add(p);
            }
            console.printf("  %-4d %-48s %6d  %s%n", i + 1, p.run().name(), p.steps(), status);
        }
        boolean cut = limit != null && limit < todo.size();
        if (cut) todo = todo.subList(0, Math.max(0, limit));
        if (!progress.estimate().known() && calibrateSteps > 0 && !todo.isEmpty()) progress.calibrated(calibrate(todo.getFirst()));
        console.printf(Locale.ROOT, "  %d to train (%d steps), %d finished; estimated time %s%s%n", plan.size() - progress.finished(), progress.stepsLeft(),
                progress.finished(), progress.estimate().known() ? duration(progress.eta(todo, List.of())) + " (" + progress.estimate().source() + ")"
                        : progress.estimate().source(), slots > 1 ? "; " + slots + " runs at a time" + (groups.isEmpty() ? "" : ", GPUs " + String.join(" | ", groups)) : "");
        if (dryRun) return 0;

        Files.createDirectories(sweepDir);
        if (!Files.isRegularFile(sweepDir.resolve(SWEEP_FILE))) atomicWrite(sweepDir.resolve(SWEEP_FILE), Files.readString(file));
        int failed = slots == 1 ? runHere(spec, todo, progress) : runInProcesses(spec, todo, progress, groups, sweepDir);
        if (cut)
            console.printf("sweep: stopping after %d run%s (--limit); continue with --resume%n", todo.size(), todo.size() == 1 ? "" : "s");
        int done = 0;
        for (Planned p : plan) if (Files.isRegularFile(p.dir().resolve(RESULT))) done++;
        console.printf("sweep %s: %d of %d runs finished%s; next: train-app compare %s%n", spec.name(), done, plan.size(),
                failed > 0 ? ", " + failed + " failed" : "", sweepDir);
        return failed > 0 ? 1 : 0;
    }

    private static RunLauncher.Prepared prepare(SweepSpec spec, SweepSpec.Run r, PluginRegistry registry, String where) {
        try {
            return RunLauncher.prepare(spec.base(), r.overrides(), registry);
        } catch (ConfigException e) {
            throw new ConfigException(where + ", run " + r.name() + ": " + e.getMessage(), e);
        }
    }

    /** The step a run starts from: its latest checkpoint's, else 0. */
    private static int startStep(Planned p) {
        Path ck = RunLauncher.latestCheckpoint(p.dir());
        return ck == null ? 0 : RunLauncher.checkpointStep(ck);
    }

    /** The runs one after the other in this process; returns how many failed. */
    private int runHere(SweepSpec spec, List<Planned> todo, Progress progress) throws IOException {
        int failed = 0;
        for (Planned p : todo) {
            int k = progress.started(p);
            console.printf("sweep [%d/%d] %s: %s%n", k, progress.total(), p.run().name(), startText(p));
            Ended e;
            try (OutputStream logOut = Files.newOutputStream(prepareRunDir(spec, p).resolve(LOG), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                 PrintStream log = new PrintStream(logOut, true, StandardCharsets.UTF_8)) {
                e = trainOne(p, log);
            }
            if (!e.finished()) failed++;
            report(k, e, progress, List.of(), todo);
        }
        return failed;
    }

    /**
     * The runs in processes of their own, {@code slots} at a time (a GPU group each when
     * {@code groups} is not empty); each process's output goes to its run's train.log. Returns
     * how many failed.
     */
    private int runInProcesses(SweepSpec spec, List<Planned> todo, Progress progress, List<String> groups, Path sweepDir) throws IOException {
        record Live(Planned planned, int k, int slot, Process process) {}
        BlockingQueue<Live> ended = new LinkedBlockingQueue<>();
        List<Live> live = new CopyOnWriteArrayList<>();   // also read by the shutdown hook
        Thread killChildren = new Thread(() -> live.forEach(l -> l.process().destroy()));
        Runtime.getRuntime().addShutdownHook(killChildren);
        int failed = 0, next = 0, slots = slots(groups);
        boolean[] busy = new boolean[slots];
        try {
            while (next < todo.size() || !live.isEmpty()) {
                while (next < todo.size() && live.size() < slots) {
                    Planned p = todo.get(next++);
                    int slot = 0;
                    while (busy[slot]) slot++;
                    busy[slot] = true;
                    int k = progress.started(p);
                    String gpus = groups.isEmpty() ? null : groups.get(slot);
                    console.printf("sweep [%d/%d] %s: %s (process %d%s)%n", k, progress.total(), p.run().name(), startText(p), slot + 1,
                            gpus == null ? "" : ", GPUs " + gpus);
                    Path dir = prepareRunDir(spec, p);
                    ProcessBuilder pb = new ProcessBuilder(childCommand(p, sweepDir)).redirectErrorStream(true)
                            .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve(LOG).toFile()));
                    if (gpus != null) pb.environment().put(CUDA_VISIBLE_DEVICES, gpus);
                    Live l = new Live(p, k, slot, pb.start());
                    live.add(l);
                    l.process().onExit().thenRun(() -> ended.add(l));
                }
                Live l;
                try {
                    l = ended.take();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("sweep interrupted; its runs continue with --resume", e);
                }
                live.remove(l);
                busy[l.slot()] = false;
                Ended e = childOutcome(l.planned(), l.process().exitValue());
                if (!e.finished()) failed++;
                List<Planned> running = live.stream().map(Live::planned).toList();
                report(l.k(), e, progress, running, todo.subList(next, todo.size()));
            }
        } finally {
            live.forEach(x -> x.process().destroy());
            try {
                Runtime.getRuntime().removeShutdownHook(killChildren);
            } catch (IllegalStateException ignored) {
                // the JVM is already shutting down: the hook is running
            }
        }
        return failed;
    }

    /** The finish line of a run: its loss and time, and the sweep's progress and remaining time. */
    private void report(int k, Ended e, Progress progress, List<Planned> running, List<Planned> queued) {
        Planned p = e.planned();
        if (!e.finished()) {
            progress.failed(p);
            console.printf("sweep [%d/%d] %s: FAILED: %s (see %s)%n", k, progress.total(), p.run().name(), e.error(), p.dir().resolve(LOG));
            return;
        }
        progress.finishedNow(p, e.wallS(), e.from());
        console.printf(Locale.ROOT, "sweep [%d/%d] %s: final val_loss %.4f, %s; sweep %d%% of steps, %d of %d runs finished, elapsed %s, eta %s%n", k,
                progress.total(), p.run().name(), e.finalValLoss(), duration(e.wallS()), progress.percentOfSteps(), progress.finished(),
                progress.total(), duration(progress.elapsedS()), progress.estimate().known() ? duration(progress.eta(queued, running)) : "?");
    }

    private static String startText(Planned p) {
        int from = startStep(p);
        return from == 0 ? "training " + p.steps() + " steps" : "resuming at step " + from + " of " + p.steps();
    }

    /** The run folder made ready to train: sweep-run.json written, an old failed.json gone. */
    private static Path prepareRunDir(SweepSpec spec, Planned p) throws IOException {
        Files.createDirectories(p.dir());
        Files.deleteIfExists(p.dir().resolve(FAILED));
        writeRunInfo(spec, p);
        return p.dir();
    }

    /**
     * Trains one run (from its last checkpoint if it has one) with the trainer's output on
     * {@code log}, and writes its result.json or failed.json.
     */
    private Ended trainOne(Planned p, PrintStream log) throws IOException {
        Path ck = RunLauncher.latestCheckpoint(p.dir());
        int from = ck == null ? 0 : RunLauncher.checkpointStep(ck);
        long started = System.currentTimeMillis(), r0 = System.nanoTime();
        Trainer.Result r;
        try {
            r = RunLauncher.run(p.prepared(), p.dir(), ck, log);
        } catch (RuntimeException e) {
            e.printStackTrace(log);
            if (plugin.verbose()) e.printStackTrace(console);
            writeFailed(p, String.valueOf(e.getMessage()), e.getClass().getName());
            return new Ended(p, false, Double.NaN, Double.NaN, from, e.getMessage());
        }
        double wall = (System.nanoTime() - r0) / 1e9;
        ObjectNode res = JSON.createObjectNode();
        res.put("run", p.run().name()).put("group", p.run().group()).put("status", "finished").put("steps", p.steps())
                .put("final_val_loss", r.lastValLoss()).put("train_time_ms", trainTimeMs(p.dir()))
                .put("wall_s", Math.round(wall * 1000) / 1000.0).put("resumed_from_step", from)
                .put("started_at_ms", started).put("finished_at_ms", System.currentTimeMillis());
        atomicWrite(p.dir().resolve(RESULT), res.toPrettyString() + "\n");
        return new Ended(p, true, r.lastValLoss(), wall, from, null);
    }

    private static void writeFailed(Planned p, String error, String type) throws IOException {
        ObjectNode f = JSON.createObjectNode().put("run", p.run().name()).put("status", "failed").put("error", error).put("type", type);
        atomicWrite(p.dir().resolve(FAILED), f.toPrettyString() + "\n");
    }

    /** {@code --run NAME}: this process trains that one run, its output going to standard output (the parent's train.log). */
    private int runAlone(SweepSpec spec, PluginRegistry registry, Path sweepDir, String where) throws IOException {
        SweepSpec.Run run = spec.runs().stream().filter(r -> r.name().equals(onlyRun)).findFirst().orElseThrow(() ->
                new ConfigException(where + ": no run '" + onlyRun + "'"));
        Planned p = new Planned(run, prepare(spec, run, registry, where), sweepDir.resolve(run.name()));
        RunLauncher.requireAvailable(p.prepared());
        Files.createDirectories(p.dir());
        return trainOne(p, console).finished() ? 0 : 1;
    }

    /** What a run's process left: its result.json, its failed.json, or (when it died before writing either) a failure written here. */
    private static Ended childOutcome(Planned p, int exitCode) throws IOException {
        Path res = p.dir().resolve(RESULT), fail = p.dir().resolve(FAILED);
        if (exitCode == 0 && Files.isRegularFile(res)) {
            JsonNode n = JSON.readTree(res.toFile());
            return new Ended(p, true, n.path("final_val_loss").asDouble(), n.path("wall_s").asDouble(), n.path("resumed_from_step").asInt(), null);
        }
        if (!Files.isRegularFile(fail))
            writeFailed(p, "the run's process exited with code " + exitCode + " before writing a result", "process");
        return new Ended(p, false, Double.NaN, Double.NaN, 0, JSON.readTree(fail.toFile()).path("error").asText("?"));
    }

    /** The command line of a run's process: this JVM (its flags and class path) running {@code sweep FILE --run NAME}. */
    private List<String> childCommand(Planned p, Path sweepDir) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments())
            if (!a.startsWith("-agentlib:jdwp") && !a.startsWith("-Xrunjdwp")) cmd.add(a);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "sweep", file.toAbsolutePath().toString(),
                "--out", sweepDir.toAbsolutePath().getParent().toString(), "--run", p.run().name()));
        for (Path pp : plugin.pluginPath()) cmd.addAll(List.of("--plugin-path", pp.toAbsolutePath().toString()));
        if (plugin.verbose()) cmd.add("--verbose");
        return cmd;
    }

    static final String CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES";

    /**
     * The GPU groups of the runs ("0,1", "2,3", ...) when their backend has devices, else empty:
     * the visible GPUs (CUDA_VISIBLE_DEVICES' ids where it is set) in groups of
     * {@code --gpus-per-run} (default: the largest world_size of the runs).
     */
    private List<String> gpuGroups(List<Planned> plan) {
        int need = plan.stream().mapToInt(p -> p.prepared().config().worldSize()).max().orElse(1);
        String backend = plan.isEmpty() ? "cpu" : plan.getFirst().prepared().config().backend();
        int visible = Ranks.visibleDevices(backend);
        if (visible == 0) {
            if (gpusPerRun != null)
                throw new ConfigException("--gpus-per-run " + gpusPerRun + ": backend '" + backend + "' has no devices to group (its runs are threads of a process; use --parallel N)");
            return List.of();
        }
        int k = gpusPerRun == null ? need : gpusPerRun;
        if (k < need) throw new ConfigException("--gpus-per-run " + k + " is smaller than the runs' world_size " + need);
        List<String> groups = groups(visibleIds(env.get(CUDA_VISIBLE_DEVICES), visible), k);
        if (groups.isEmpty())
            throw new ConfigException("--gpus-per-run " + k + ": only " + visible + " GPU" + (visible == 1 ? "" : "s") + " visible"
                    + (env.get(CUDA_VISIBLE_DEVICES) == null ? "" : " (CUDA_VISIBLE_DEVICES=" + env.get(CUDA_VISIBLE_DEVICES) + ")"));
        return groups;
    }

    /** The runs at once: {@code --parallel}, by default one per GPU group, or 1. */
    private int slots(List<String> groups) {
        int n = parallel != null ? parallel : Math.max(1, groups.size());
        if (n < 1) throw new ConfigException("--parallel must be ≥ 1, got " + n);
        if (!groups.isEmpty() && n > groups.size())
            throw new ConfigException("--parallel " + n + " needs " + n + " GPU groups; the visible GPUs make " + groups.size() + " (" + String.join(" | ", groups) + ")");
        return n;
    }

    /**
     * The ids of the {@code count} visible GPUs as a child's CUDA_VISIBLE_DEVICES names them: the
     * first {@code count} entries of ours where it is set (the runtime sees no more than it
     * lists), else 0 .. count−1.
     */
    static List<String> visibleIds(String cudaVisibleDevices, int count) {
        List<String> ids = new ArrayList<>();
        if (cudaVisibleDevices == null || cudaVisibleDevices.isBlank()) {
            for (int i = 0; i < count; i++) ids.add(String.valueOf(i));
            return ids;
        }
        for (String s : cudaVisibleDevices.split(",")) if (!s.isBlank() && ids.size() < count) ids.add(s.strip());
        return ids;
    }

    /** Consecutive groups of {@code k} ids ("0,1", "2,3"); ids left over (fewer than k) are not used. */
    static List<String> groups(List<String> ids, int k) {
        List<String> g = new ArrayList<>();
        for (int i = 0; i + k <= ids.size(); i += k) g.add(String.join(",", ids.subList(i, i + k)));
        return g;
    }

    /**
     * The estimate before any run has finished: the first run to train, cut to
     * {@code --calibrate-steps} steps, trained in a temporary folder.
     */
    private SweepEstimate calibrate(Planned first) throws IOException {
        int c = Math.min(calibrateSteps, first.steps());
        if (c < 2) return SweepEstimate.NONE;   // the first step holds the JIT warm-up: a rate needs a second one
        Map<String, Object> o = new LinkedHashMap<>(first.run().overrides());
        o.put("max_steps", c);
        RunLauncher.Prepared cal = RunLauncher.prepare(first.prepared().source(), o, first.prepared().registry());
        Path tmp = Files.createTempDirectory("sweep-calibration");
        try (PrintStream quiet = new PrintStream(OutputStream.nullOutputStream())) {
            console.printf("  calibrating: %d steps of %s ...%n", c, first.run().name());
            long t0 = System.nanoTime();
            try {
                RunLauncher.run(cal, tmp, null, quiet);
            } catch (RuntimeException e) {
                console.println("  calibration failed (" + e.getMessage() + "): no estimate before the first run");
                return SweepEstimate.NONE;
            }
            double wall = (System.nanoTime() - t0) / 1e9;
            double ms1 = 0, msC = 0;
            long tok1 = 0, tokC = 0;
            int vals = 0;
            for (String line : Files.readAllLines(tmp.resolve("metrics.jsonl"))) {
                JsonNode n = JSON.readTree(line);
                if (!n.path("val_loss").isNull()) { vals++; continue; }
                int s = n.path("step").asInt();
                if (s == 1) { ms1 = n.path("time_ms").asDouble(); tok1 = n.path("tokens").asLong(); }
                if (s == c) { msC = n.path("time_ms").asDouble(); tokC = n.path("tokens").asLong(); }
            }
            return SweepEstimate.fromCalibration(msC - ms1, tokC - tok1, wall - msC / 1000, vals,
                    "from a " + c + "-step calibration of " + first.run().name());
        } finally {
            deleteTree(tmp);
        }
    }

    /**
     * The sweep's counts and clock: steps done and left, runs started and finished, and the rate
     * of the estimate (the calibration's until runs finish, then the finished runs').
     */
    static final class Progress {
        private final int total, slots;
        private final long t0 = System.nanoTime();
        private final Map<Planned, Integer> from = new HashMap<>();
        private final Map<Planned, Long> startedAt = new HashMap<>();
        private int finished, finishedBefore, started;
        private long stepsDone, stepsLeft, tokensFinished;
        private double wallFinished;
        private SweepEstimate estimate = SweepEstimate.NONE;

        Progress(int total, int slots) {
            this.total = total;
            this.slots = slots;
        }

        int total() { return total; }

        int finished() { return finished; }

        long stepsLeft() { return stepsLeft; }

        SweepEstimate estimate() { return estimate; }

        double elapsedS() { return (System.nanoTime() - t0) / 1e9; }

        int percentOfSteps() { return (int) (100 * stepsDone / Math.max(1, stepsDone + stepsLeft)); }

        void finishedBefore(Planned p, double wallS, int resumedFrom) {
            finished++;
            finishedBefore++;
            stepsDone += p.steps();
            rate(p, wallS, resumedFrom);
        }

        /** A run still to train, from step {@code at} (its checkpoint): the steps before count as done. */
        void planned(Planned p, int at) {
            from.put(p, at);
            stepsDone += at;
            stepsLeft += p.steps() - at;
        }

        void calibrated(SweepEstimate e) { estimate = e; }

        /** Numbers the run (1-based, in start order) and starts its clock. */
        int started(Planned p) {
            startedAt.put(p, System.nanoTime());
            return finishedBefore + ++started;
        }

        void finishedNow(Planned p, double wallS, int resumedFrom) {
            finished++;
            stepsDone += p.steps() - resumedFrom;
            stepsLeft -= p.steps() - resumedFrom;
            startedAt.remove(p);
            rate(p, wallS, resumedFrom);
        }

        /** A failed run leaves the count: its steps are neither done nor still to come in this invocation. */
        void failed(Planned p) {
            stepsDone -= from.getOrDefault(p, 0);
            stepsLeft -= p.steps() - from.getOrDefault(p, 0);
            startedAt.remove(p);
        }

        private void rate(Planned p, double wallS, int resumedFrom) {
            if (!Double.isFinite(wallS)) return;
            wallFinished += wallS;
            tokensFinished += SweepEstimate.trainTokens(p.schedules(), resumedFrom, p.steps());
            estimate = SweepEstimate.fromFinished(wallFinished, tokensFinished);
        }

        /** Seconds until {@code running} (started, not ended) and {@code queued} are done on the slots. */
        double eta(List<Planned> queued, List<Planned> running) {
            List<Double> busy = new ArrayList<>(), wait = new ArrayList<>();
            for (Planned p : running)
                busy.add(estimate.seconds(p.schedules(), from.getOrDefault(p, 0), p.steps()) - (System.nanoTime() - startedAt.getOrDefault(p, t0)) / 1e9);
            for (Planned p : queued) wait.add(estimate.seconds(p.schedules(), from.getOrDefault(p, 0), p.steps()));
            return SweepEstimate.makespan(busy, wait, slots);
        }
    }

    /**
     * A matrix key alone on the base: an unknown key or a value of the wrong type is reported
     * against the key and value, before the combinations.
     */
    private static void checkMatrixKey(SweepSpec spec, String key, PluginRegistry registry, String where) {
        for (var v : spec.matrix().get(key)) {
            var overrides = new LinkedHashMap<String, Object>(spec.set());
            Map<String, JsonNode> flat = new LinkedHashMap<>();
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

    /** Deletes a folder and everything in it (nothing when it does not exist). */
    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
        }
    }

    static String duration(double s) {
        if (!Double.isFinite(s)) return "?";
        long t = Math.round(s);
        return t >= 3600 ? String.format(Locale.ROOT, "%dh%02dm", t / 3600, t % 3600 / 60)
                : t >= 60 ? String.format(Locale.ROOT, "%dm%02ds", t / 60, t % 60) : String.format(Locale.ROOT, "%.1fs", s);
    }
}
