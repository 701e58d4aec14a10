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
import dev.speedrun.model.Precision;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.Backends;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The training entry point of the research commands (sweep, bench ab, sample): a configuration
 * resolved and validated like {@code train} does it (config keys, values, plugins and their
 * options, backend, precision), then a run into a folder the caller chooses. Everything that can
 * be wrong is reported by {@link #prepare} before anything is written.
 */
public final class RunLauncher {
    private RunLauncher() {}

    /** A validated run: the resolved tree, the bound configuration and the injector with its plugins. */
    public record Prepared(String source, ObjectNode tree, TrainConfig config, Injector injector,
                           List<PluginRegistry.Selected> selected, PluginRegistry registry, Backend backend) {}

    /** Resolves {@code source} ⊕ {@code overrides} (dotted keys) and validates it; errors are {@link ConfigException}s. */
    public static Prepared prepare(String source, Map<String, Object> overrides, List<Path> pluginPath) {
        return prepare(source, overrides, PluginRegistry.discover(pluginPath));
    }

    public static Prepared prepare(String source, Map<String, Object> overrides, PluginRegistry registry) {
        ObjectNode tree = ConfigLoader.resolveTree(source, overrides);
        TrainConfig cfg = ConfigLoader.bind(tree, source);
        Backend be = Backends.get(cfg.backend());
        List<PluginRegistry.Selected> selected = registry.select(cfg.plugins(), cfg.pluginOptions(), source);
        List<Module> modules = new ArrayList<>();
        modules.add(new CoreModule(cfg));
        for (var s : selected) modules.add(s.module());
        Injector injector = Guice.createInjector(Stage.PRODUCTION, modules);
        return new Prepared(source, tree, cfg, injector, selected, registry, be);
    }

    /** Fails when the prepared run's backend cannot run here. */
    public static void requireAvailable(Prepared p) {
        if (!p.backend().isAvailable())
            throw new ConfigException("backend '" + p.backend().name() + "' is not available here: " + p.backend().unavailableReason());
    }

    /**
     * Trains into {@code runDir} (writing its config.yaml unless resuming), from checkpoint
     * {@code resume} (a run folder or checkpoint folder; null: from the start). Single process only.
     */
    public static Trainer.Result run(Prepared p, Path runDir, Path resume, PrintStream console) throws IOException {
        requireAvailable(p);
        Path ck = resume == null ? null : TrainCheckpoint.resolve(resume);
        Files.createDirectories(runDir);
        if (ck == null) {
            Path tmp = runDir.resolve("config.yaml.tmp");
            Files.writeString(tmp, TrainCommand.resolvedYaml(p.tree(), p.selected(), p.registry(), p.backend(), p.config()));
            Files.move(tmp, runDir.resolve("config.yaml"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        RankPlan plan = Ranks.plan(new RankRequest(p.config().backend(), p.config().worldSize(), System.getenv()));
        if (plan.processes() > 1)
            throw new ConfigException("sweep, bench ab and sample run in one process; this launch has " + plan.processes()
                    + " processes (use train for multi-node runs)");
        Trainer trainer = new Trainer(p.config(), TrainingParts.of(p.injector()), plan, runDir, ck, console, false);
        return trainer.run();
    }

    /** The latest checkpoint of a run folder, or null when it has none. */
    public static Path latestCheckpoint(Path runDir) {
        try {
            return TrainCheckpoint.resolve(runDir);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** A checkpoint folder from a run folder (its latest), a checkpoints folder or a checkpoint folder. */
    public static Path resolveCheckpoint(Path given) { return TrainCheckpoint.resolve(given); }

    /** The step a checkpoint folder holds. */
    public static int checkpointStep(Path checkpoint) { return TrainCheckpoint.readState(checkpoint).step(); }

    /** The informational entries of a checkpoint's state (train_time_ms, tokens, world_size). */
    public static Map<String, String> checkpointInfo(Path checkpoint) { return TrainCheckpoint.readState(checkpoint).info(); }

    /** The model precision a configuration trains in ("auto" resolved for its backend). */
    public static Precision precision(TrainConfig cfg) { return cfg.precision().resolve(cfg.backend()); }
}
