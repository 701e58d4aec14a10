package dev.speedrun.app;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.inject.Guice;
import com.google.inject.Injector;
import com.google.inject.Module;
import com.google.inject.Stage;
import dev.speedrun.app.config.ConfigException;
import dev.speedrun.app.config.ConfigLoader;
import dev.speedrun.app.config.TrainConfig;
import dev.speedrun.kernels.RankPlan;
import dev.speedrun.kernels.RankRequest;
import dev.speedrun.kernels.Ranks;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.Backends;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code train}: trains per a configuration, with plugins, writing runs/&lt;id&gt;/. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a model. Without --config: configs/record-178 on a GPU machine, configs/tiny-cpu otherwise",
                "(on the built-in sample corpus, generated on first use). Flags override the configuration file."})
public final class TrainCommand implements Callable<Integer> {
    @Option(names = "--config", paramLabel = "FILE|NAME", description = "YAML file, or a built-in: record-178, record-177, tiny-cpu.") String config;
    @Option(names = "--train-data", paramLabel = "GLOB", description = "Training shards, e.g. data/fineweb10B/fineweb_train_*.bin.") String trainData;
    @Option(names = "--val-data", paramLabel = "GLOB", description = "Validation shard(s).") String valData;
    @Option(names = "--plugins", paramLabel = "LIST", split = ",", description = "Plugins to use, comma-separated (\"\" for none).") List<String> plugins;
    @Option(names = "--steps", paramLabel = "N",
            description = "Stop after N steps (the schedule is unchanged); 0: validate and write the step-0 checkpoint of the initial weights.") Integer steps;
    @Option(names = "--init-weights", paramLabel = "FILE",
            description = "Start from these weights (safetensors, the record's state-dict names; the rest of the state fresh).") Path initWeights;
    @Option(names = "--backend", paramLabel = "NAME", description = "cpu, cuda, or cuda-emu (the CUDA kernels on an emulated device: GPU code checked on the CPU).") String backend;
    @Option(names = "--world-size", paramLabel = "N", description = "Ranks (GPUs, or threads on CPU).") Integer worldSize;
    @Option(names = "--precision", paramLabel = "P", description = "auto (mixed on cuda, f32 on cpu), mixed, f32, f64 or bf16.") String precision;
    @Option(names = "--seed", paramLabel = "N", description = "Initialisation seed.") Long seed;
    @Option(names = "--out", paramLabel = "DIR", description = "Folder of the runs (default: runs).") String out;
    @Option(names = "--resume", paramLabel = "DIR", description = "Continue a run (its folder or a checkpoint folder) bit-exactly.") Path resume;
    @Mixin PluginOptions plugin = new PluginOptions();

    PrintStream console = System.out;

    /** This process's environment: launch variables of multi-node runs (tests substitute their own). */
    Map<String, String> env = System.getenv();

    /** Set by tests: where the last run went. */
    Trainer.Result lastResult;

    @Override public Integer call() throws IOException {
        PluginRegistry registry = plugin.registry();
        Map<String, Object> overrides = new LinkedHashMap<>();
        if (trainData != null) overrides.put("train_data", trainData);
        if (valData != null) overrides.put("val_data", valData);
        if (plugins != null) overrides.put("plugins", plugins.stream().map(String::strip).filter(s -> !s.isEmpty()).toList());
        if (steps != null) {
            if (steps < 0) throw new ConfigException("--steps must be ≥ 0, got " + steps);
            if (steps > 0) overrides.put("max_steps", steps);
        }
        if (initWeights != null && !Files.isRegularFile(initWeights))
            throw new ConfigException("--init-weights " + initWeights + ": no such file");
        if (backend != null) overrides.put("backend", backend);
        if (worldSize != null) overrides.put("world_size", worldSize);
        if (precision != null) overrides.put("precision", precision);
        if (seed != null) overrides.put("seed", seed);
        if (out != null) overrides.put("out", out);

        Path ck = resume == null ? null : TrainCheckpoint.resolve(resume);
        Path resumeRun = ck == null ? null : ck.getParent().getParent();
        String source = config;
        if (source == null && resumeRun != null && Files.isRegularFile(resumeRun.resolve("config.yaml")))
            source = resumeRun.resolve("config.yaml").toString();
        if (source == null) source = cudaAvailable() ? "record-178" : "tiny-cpu";
        ObjectNode tree = ConfigLoader.resolveTree(source, overrides);
        TrainConfig cfg = ConfigLoader.bind(tree, source);
        Backend be = Backends.get(cfg.backend());
        if (!be.isAvailable())
            throw new ConfigException("backend '" + be.name() + "' is not available here: " + be.unavailableReason()
                    + " (use --backend cpu or --config tiny-cpu)");
        List<PluginRegistry.Selected> selected = registry.select(cfg.plugins(), cfg.pluginOptions(), source);
        List<Module> modules = new ArrayList<>();
        modules.add(new CoreModule(cfg));
        for (var s : selected) modules.add(s.module());
        Injector injector = Guice.createInjector(Stage.PRODUCTION, modules);

        // placement first: a missing GPU or NCCL is reported before anything is written
        RankPlan plan = Ranks.plan(new RankRequest(cfg.backend(), cfg.worldSize(), env));
        Path runDir = resumeRun != null ? resumeRun
                : plan.processes() > 1 ? sharedRunFolder(cfg.out(), source, env) : runFolder(cfg.out(), source);
        // a resume under another configuration is refused before the run's config.yaml is replaced
        // (the Trainer checks again, with the checkpoint it finally picks)
        if (ck != null && Files.isDirectory(ck)) TrainCheckpoint.requireSameConfig(ck, cfg, true);
        Files.createDirectories(runDir);
        if (plan.lead()) {
            // through a rename: a resume reads this file, and a kill during the write must not leave half of it
            Path part = runDir.resolve("config.yaml.tmp");
            Files.writeString(part, resolvedYaml(tree, selected, registry, be, cfg));
            Files.move(part, runDir.resolve("config.yaml"), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        int trainSteps = steps != null && steps == 0 ? 0 : cfg.trainSteps();
        console.printf("train-app: config %s, plugins [%s], backend %s, world size %d, %d steps%s%n", source,
                String.join(", ", cfg.plugins()), be.name(), cfg.worldSize(), trainSteps,
                ck == null ? initWeights == null ? "" : ", from weights " + initWeights : ", resuming from " + ck);
        if (plan.processes() > 1 || !plan.location().isEmpty())
            console.printf("train-app: process %d of %d runs ranks %d..%d%s%n", plan.processRank(), plan.processes(), plan.firstRank(),
                    plan.firstRank() + plan.localRanks() - 1, plan.location().isEmpty() ? "" : " " + plan.location());
        console.println("train-app: run folder " + runDir);
        Trainer trainer = new Trainer(cfg, TrainingParts.of(injector), plan, runDir, ck, initWeights,
                trainSteps, console, System.console() != null);
        Trainer.Result r = trainer.run();
        lastResult = r;
        if (r == null) {
            console.printf("train-app: done (process %d of %d; the process of rank 0 writes metrics, plot and checkpoints)%n",
                    plan.processRank(), plan.processes());
            return 0;
        }
        if (r.stepsTrained() == 0) console.printf("train-app: done, no steps trained; val_loss %.4f%n", r.lastValLoss());
        else console.printf("train-app: done, %d steps; final val_loss %.4f (first train loss %.4f, last %.4f)%n", r.stepsTrained(),
                r.lastValLoss(), r.firstTrainLoss(), r.lastTrainLoss());
        console.println("train-app: metrics    " + r.metrics());
        console.println("train-app: loss plot  " + r.plot());
        console.println("train-app: checkpoint " + r.checkpoint());
        return 0;
    }

    static boolean cudaAvailable() {
        try {
            return Backends.get("cuda").isAvailable();
        } catch (RuntimeException e) {
            return false;
        }
    }

    /** Variable naming the run folder of a multi-node run (every node must use the same folder). */
    static final String RUN_ID_ENV = "SPEEDRUN_RUN_ID";

    /**
     * The run folder of a multi-process run: the same on every node (a shared file system; rank 0
     * publishes checkpoints from the other ranks' parts), so it is named by {@value #RUN_ID_ENV}
     * rather than the clock.
     */
    static Path sharedRunFolder(String out, String source, Map<String, String> env) {
        String id = env.get(RUN_ID_ENV);
        if (id == null || id.isBlank() || !id.matches("[A-Za-z0-9._-]+"))
            throw new ConfigException("a multi-node run (WORLD_SIZE=" + env.get("WORLD_SIZE") + ") needs " + RUN_ID_ENV
                    + " set to the same id on every node (letters, digits, . _ -; e.g. " + RUN_ID_ENV + "=$SLURM_JOB_ID), got "
                    + (id == null ? "nothing" : "'" + id + "'") + "; the run folder " + out + "/<config>-<id> must be on a shared file system");
        String name = Path.of(source).getFileName().toString().replaceFirst("\\.yaml$", "");
        return Path.of(out).resolve(name + "-" + id);
    }

    static Path runFolder(String out, String source) {
        String name = Path.of(source).getFileName().toString().replaceFirst("\\.yaml$", "");
        String id = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-" + name;
        Path base = Path.of(out);
        Path dir = base.resolve(id);
        for (int i = 2; Files.exists(dir); i++) dir = base.resolve(id + "-" + i);
        return dir;
    }

    /** The resolved configuration plus a {@code run} section: plugin options and origins, versions, hardware. */
    static String resolvedYaml(ObjectNode tree, List<PluginRegistry.Selected> selected, PluginRegistry registry, Backend be,
                               TrainConfig cfg) {
        ObjectNode t = tree.deepCopy();
        var mapper = ConfigLoader.mapper();
        ObjectNode opts = t.putObject("plugin_options");
        for (var s : selected) opts.set(s.plugin().name(), mapper.valueToTree(s.options()));
        ObjectNode run = t.putObject(ConfigLoader.RUN_SECTION);
        ObjectNode pl = run.putObject("plugins");
        for (var s : selected) {
            String src = registry.all().stream().filter(f -> f.plugin() == s.plugin()).map(PluginRegistry.Found::source).findFirst().orElse("?");
            pl.putObject(s.plugin().name()).put("description", s.plugin().description()).put("source", src);
        }
        ObjectNode v = run.putObject("versions");
        String appV = Main.class.getPackage().getImplementationVersion();
        v.put("train_app", appV == null ? "dev" : appV);
        v.put("java", Runtime.version().toString());
        v.put("vm", System.getProperty("java.vm.name") + " " + System.getProperty("java.vm.version"));
        ObjectNode hw = run.putObject("hardware");
        hw.put("backend", be.name());
        hw.put("cpus", Runtime.getRuntime().availableProcessors());
        hw.put("max_heap_mb", Runtime.getRuntime().maxMemory() >> 20);
        hw.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        try {
            var os = (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
            hw.put("memory_mb", os.getTotalMemorySize() >> 20);
        } catch (ClassCastException ignored) {
            // not a HotSpot-style VM: memory size unknown
        }
        run.put("precision", cfg.precision().resolve(cfg.backend()).key());
        run.put("train_steps", cfg.trainSteps());
        run.put("grad_accum", cfg.microBatches() / Math.max(1, cfg.worldSize()));
        return "# Resolved configuration of this run (usable with --config); the run section is informational.\n"
                + ConfigLoader.toYaml(t);
    }
}
