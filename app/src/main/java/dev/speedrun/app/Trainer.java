package dev.speedrun.app;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.inject.Injector;
import com.google.inject.Key;
import com.google.inject.TypeLiteral;
import dev.speedrun.app.config.ConfigException;
import dev.speedrun.app.config.TrainConfig;
import dev.speedrun.data.Batch;
import dev.speedrun.data.DataPaths;
import dev.speedrun.data.DataPosition;
import dev.speedrun.data.SampleCorpus;
import dev.speedrun.data.Shard;
import dev.speedrun.data.TrainBatcher;
import dev.speedrun.data.ValBatcher;
import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Ops;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.Precision;
import dev.speedrun.optim.OptimizerConfig;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.optim.StepPlan;
import dev.speedrun.plugin.DecayPolicy;
import dev.speedrun.plugin.OptimizerFamily;
import dev.speedrun.plugin.TokenWeights;
import dev.speedrun.schedules.RecordSchedules;
import dev.speedrun.schedules.TrainingHook;
import dev.speedrun.schedules.Windows;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The training loop (spec §3, §5): per step, gradient accumulation over
 * {@code micro_batches / world_size} micro-batches, NorMuon every step, Adam on odd steps, the
 * scalar optimizer frozen after transitions, YaRN updated when the long window changes,
 * validation every {@code val_every} steps and at the end with the clock stopped (the final one
 * with the final window), checkpoints every {@code checkpoint.every} steps and at the end.
 * Ranks are threads of this process ({@link RankRuntime}: in-process collectives on CPU, one GPU
 * and NCCL per rank on cuda; with several nodes each process runs its GPUs' ranks); rank 0 writes
 * the run folder and {@link #run} returns null on the other processes.
 */
public final class Trainer {
    /** What a finished run produced. */
    public record Result(Path runDir, int stepsTrained, double lastValLoss, List<Double> valLosses, double firstTrainLoss,
                         double lastTrainLoss, Path metrics, Path plot, Path checkpoint) {}

    /** Names of the optimizer instances (also used for freezing and in checkpoints). */

    private final TrainConfig cfg;
    private final RecordSchedules sched;
    private final List<TrainingHook> hooks;
    private final LossFunction loss;
    private final TokenWeights tokenWeights;
    private final DecayMask normuonMask, adamMask;
    private final Path runDir;
    private final Path resume;
    private final PrintStream console;
    private final boolean progressBar;
    private final GptConfig modelConfig;
    private final int gradAccum;
    private final int trainSteps;
    private final RankRuntime.Machine machine;
    private final Precision precision;

    public Trainer(TrainConfig cfg, Injector injector, Path runDir, Path resume, PrintStream console, boolean progressBar) {
        this(cfg, injector, runDir, resume, console, progressBar, RankRuntime.Machine.system());
    }

    Trainer(TrainConfig cfg, Injector injector, Path runDir, Path resume, PrintStream console, boolean progressBar,
            RankRuntime.Machine machine) {
        this.machine = machine;
        this.cfg = cfg;
        this.sched = injector.getInstance(RecordSchedules.class);
        this.hooks = List.copyOf(injector.getInstance(Key.get(new TypeLiteral<Set<TrainingHook>>() {})));
        this.loss = injector.getInstance(LossFunction.class);
        this.tokenWeights = injector.getInstance(TokenWeights.class);
        Set<DecayPolicy> policies = injector.getInstance(Key.get(new TypeLiteral<Set<DecayPolicy>>() {}));
        this.normuonMask = DecayPolicy.resolve(policies, OptimizerFamily.NORMUON);
        this.adamMask = DecayPolicy.resolve(policies, OptimizerFamily.ADAM);
        this.runDir = runDir;
        this.resume = resume;
        this.console = console;
        this.progressBar = progressBar;
        var m = cfg.model();
        this.modelConfig = GptConfig.withSizes(m.vocabSize(), m.numLayers(), m.numHeads(), m.headDim(), m.modelDim(),
                m.blockSize(), m.gateInputDims()).withQkvInitScale(m.qkvInitScale()).validate();
        if (cfg.worldSize() < 1) throw new ConfigException("world_size must be ≥ 1, got " + cfg.worldSize());
        if (cfg.microBatches() % cfg.worldSize() != 0)
            throw new ConfigException("micro_batches (" + cfg.microBatches() + ") must be a multiple of world_size (" + cfg.worldSize() + ")");
        this.gradAccum = cfg.microBatches() / cfg.worldSize();
        this.trainSteps = cfg.trainSteps();
        this.precision = cfg.precision().resolve(cfg.backend());
    }

    Precision precision() { return precision; }

    public DecayMask normuonMask() { return normuonMask; }

    public DecayMask adamMask() { return adamMask; }

    /** The optimizer instances of the record (spec §5) from the configuration. */
    List<OptimizerConfig> optimizerConfigs() {
        // state in the parameter dtype (null); mixed precision as the record: F32 state, Adam's moments BF16
        boolean mixed = precision.specParamDTypes();
        return RecordOptimizers.configs(cfg.optim(), normuonMask, adamMask, mixed ? DType.F32 : null, mixed ? DType.BF16 : null);
    }

    /** Tokens per rank and micro-batch of the largest training step. */
    int maxTrainTokens() {
        long max = 0;
        for (int s = 0; s < sched.totalSteps(); s++) max = Math.max(max, sched.batchTokens(s));
        return TrainBatcher.tokensPerRank(max, cfg.worldSize(), gradAccum);
    }

    /** Validation micro-batch per rank: the configured step, split to fit the model's buffers. */
    int valTokensPerRank() {
        long perRank = cfg.validation().batchTokens() / cfg.worldSize();
        if (perRank < 1) throw new ConfigException("validation.batch_tokens must be ≥ world_size");
        return (int) Math.min(perRank, maxTrainTokens());
    }

    int valSteps() {
        long per = (long) valTokensPerRank() * cfg.worldSize();
        int n = (int) (cfg.validation().tokens() / per);
        if (n < 1) throw new ConfigException("validation.tokens (" + cfg.validation().tokens() + ") is smaller than one validation step ("
                + per + " tokens)");
        return n;
    }

    static List<Path> shards(String pattern, String key) {
        Path p = Path.of(pattern);
        if (!p.isAbsolute()) p = DataPaths.repoRoot().resolve(p);
        Path dir = p.getParent();
        String glob = p.getFileName().toString();
        if (dir.normalize().equals(SampleCorpus.defaultDir().normalize())
                && !SampleCorpus.isPresent(dir, SampleCorpus.DEFAULT_TOKENS, SampleCorpus.DEFAULT_SEED)) {
            System.err.println("train-app: generating the built-in sample corpus in " + dir + " (once) ...");
            SampleCorpus.ensureDefault();
        }
        if (!Files.isDirectory(dir))
            throw new ConfigException(key + ": folder " + dir + " does not exist (FineWeb: `train-app data fineweb`; sample corpus: "
                    + "data/sample)");
        List<Path> files = Shard.list(dir, glob);
        if (files.isEmpty()) throw new ConfigException(key + ": no files match " + glob + " in " + dir);
        return files;
    }

    // ------------------------------------------------------------------------------------- run

    /** Per-step numbers rank 0 logs. */
    private record StepLog(int step, double trainLoss, double lr, long tokens, double timeMs) {}

    public Result run() {
        List<Path> trainFiles = shards(cfg.trainData(), "train_data");
        List<Path> valFiles = shards(cfg.valData(), "val_data");
        try {
            Files.createDirectories(runDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create run folder " + runDir, e);
        }
        Path ck = resume == null ? null : TrainCheckpoint.resolve(resume);
        RankRuntime.Plan plan = RankRuntime.plan(cfg.backend(), cfg.worldSize(), machine);
        if (!plan.note().isEmpty()) console.println("train-app: " + plan.note());
        AtomicReference<Result> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        RankRuntime rt = RankRuntime.open(plan, machine.env());
        try {
            List<RankRuntime.Rank> ranks = rt.ranks();
            List<Thread> threads = new ArrayList<>();
            for (RankRuntime.Rank rk : ranks) {
                Runnable body = () -> {
                    try {
                        Result res = runRank(rk.comm(), rk.ops(), trainFiles, valFiles, ck);
                        if (rk.rank() == 0) result.set(res);
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                        if (!plan.nccl() && ranks.size() > 1) rt.abort();
                    }
                };
                // a single local rank runs on this thread (its ops() binds the GPU context here)
                if (ranks.size() == 1) body.run();
                else threads.add(Thread.ofPlatform().name("rank-" + rk.rank()).daemon(plan.nccl()).start(body));
            }
            joinAll(threads, failure, plan.nccl());
        } finally {
            // NCCL communicators of a failed run may have queued work that never completes: not closed
            if (failure.get() == null || !plan.nccl()) rt.close();
        }
        if (failure.get() != null) {
            if (failure.get() instanceof RuntimeException re) throw re;
            if (failure.get() instanceof Error er) throw er;
            throw new IllegalStateException(failure.get());
        }
        return result.get();
    }

    /**
     * Waits for the rank threads. In-process ranks are woken by {@link RankRuntime#abort} when one
     * fails; NCCL ranks waiting for a failed peer cannot be (their collectives are queued on the
     * GPU), so after a failure they get {@link #NCCL_FAILURE_GRACE_MS} to finish, then the run
     * reports the failure and leaves them (daemon threads).
     */
    private static void joinAll(List<Thread> threads, AtomicReference<Throwable> failure, boolean nccl) {
        long failedAt = 0;
        for (Thread t : threads) {
            try {
                while (t.isAlive()) {
                    t.join(200);
                    if (nccl && failure.get() != null) {
                        if (failedAt == 0) failedAt = System.nanoTime();
                        else if (System.nanoTime() - failedAt > NCCL_FAILURE_GRACE_MS * 1_000_000L) return;
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }

    static final long NCCL_FAILURE_GRACE_MS = 30_000;

    private Result runRank(Collectives comm, Ops ops, List<Path> trainFiles, List<Path> valFiles, Path ck) throws IOException {
        int rank = comm.rank(), world = comm.worldSize();
        boolean lead = rank == 0;
        int maxTokens = maxTrainTokens();
        try (Gpt model = new Gpt(modelConfig, ops, precision, maxTokens, world, cfg.seed());
             Optimizers opt = Optimizers.build(optimizerConfigs(), model, ops, comm);
             MemoryArena scratch = ops.backend().newArena()) {
            Tensor red = scratch.allocate(DType.F64, 2);
            int start = 0;
            DataPosition pos = DataPosition.START;
            opt.zeroAllGrads();
            if (ck != null) {
                var st = TrainCheckpoint.readState(ck);
                TrainCheckpoint.load(ck, model, opt, rank);
                start = st.step();
                pos = st.position();
                if (start > trainSteps)
                    throw new ConfigException("--resume: checkpoint is at step " + start + ", beyond this run's " + trainSteps + " steps");
            }
            // YaRN follows the schedule's window changes up to the step before the first one trained here
            int curLong = sched.windows(0).longBlocks();
            for (int s = 1; s < start; s++) {
                int l = sched.windows(s).longBlocks();
                if (l != curLong) { model.yarn().apply(curLong, l); curLong = l; }
            }
            RankContext ctx = new RankContext(model, opt, sched, trainSteps);
            ctx.step = start;
            for (TrainingHook h : hooks) h.onRunStart(ctx);

            Path metricsFile = runDir.resolve("metrics.jsonl");
            ObjectMapper json = new ObjectMapper();
            List<LossPlot.Point> trainPts = new ArrayList<>(), valPts = new ArrayList<>();
            List<Double> vals = new ArrayList<>();
            if (lead && ck != null) readMetrics(metricsFile, json, start, sched.validateAt(start) || start == trainSteps, trainPts, valPts);
            double trainTimeMs = 0;
            long tokens = 0;
            if (ck != null) {
                var st = TrainCheckpoint.readState(ck).info();
                trainTimeMs = Double.parseDouble(st.getOrDefault("train_time_ms", "0"));
                tokens = Long.parseLong(st.getOrDefault("tokens", "0"));
            }
            double firstTrain = Double.NaN, lastTrain = Double.NaN;
            Path lastCk = null;
            try (TrainBatcher train = new TrainBatcher(trainFiles, world, rank, pos, Shard.BOS);
                 ValBatcher val = new ValBatcher(valFiles, world, rank);
                 BufferedWriter metrics = lead ? Files.newBufferedWriter(metricsFile, StandardOpenOption.CREATE,
                         ck == null ? StandardOpenOption.TRUNCATE_EXISTING : StandardOpenOption.APPEND, StandardOpenOption.WRITE) : null) {
                for (int step = start; ; step++) {
                    ctx.step = step;
                    boolean last = step == trainSteps;
                    if (!last || step < sched.totalSteps()) {
                        int l = sched.windows(step).longBlocks();
                        if (l != curLong) { model.yarn().apply(curLong, l); curLong = l; }
                    }
                    if (last || sched.validateAt(step)) {
                        // the clock stops during validation
                        double v = validate(model, val, loss, comm, red, sched.validationWindows(step));
                        vals.add(v);
                        for (TrainingHook h : hooks) h.onValidation(ctx, v);
                        if (lead) {
                            valPts.add(new LossPlot.Point(step, v));
                            writeMetric(metrics, json, step, Double.NaN, v, sched.lrMultiplier(Math.min(step, sched.totalSteps())), tokens, trainTimeMs);
                            clearBar();
                            console.printf(Locale.ROOT, "step:%d/%d val_loss:%.4f train_time:%.0fms step_avg:%.2fms%n", step, trainSteps, v,
                                    trainTimeMs, step == 0 ? 0.0 : trainTimeMs / step);
                        }
                    }
                    if (last) break;
                    long t0 = System.nanoTime();
                    for (TrainingHook h : hooks) h.onStepStart(ctx);
                    Windows w = sched.windows(step);
                    double[] mtp = tokenWeights.at(step);
                    long batchTokens = sched.batchTokens(step);
                    double lossSum = 0;
                    long stepTokens = 0;
                    for (int micro = 0; micro < gradAccum; micro++) {
                        Batch b = train.next(batchTokens, gradAccum, cfg.model().maxSeqLen());
                        lossSum += model.forwardBackward(b.inputs(), b.targets(), b.cuSeqlens(), w.shortBlocks(), w.longBlocks(),
                                loss, mtp, 1.0 / gradAccum) * gradAccum;
                        stepTokens += b.size();
                    }
                    for (TrainingHook h : hooks) h.afterBackward(ctx);
                    Set<String> frozen = sched.scalarsFrozen(step) ? Set.of(RecordOptimizers.ADAM_SCALARS) : Set.of();
                    opt.step(new StepPlan(step, sched.lrMultiplier(step), sched.muonMomentum(step), sched.adamSteps(step), frozen));
                    for (TrainingHook h : hooks) h.afterOptimizerStep(ctx);
                    double[] sums = allSum(comm, red, lossSum, stepTokens);
                    double trainLoss = sums[0] / sums[1];
                    trainTimeMs += (System.nanoTime() - t0) / 1e6;
                    tokens += (long) sums[1];
                    if (Double.isNaN(firstTrain)) firstTrain = trainLoss;
                    lastTrain = trainLoss;
                    if (lead) {
                        trainPts.add(new LossPlot.Point(step + 1, trainLoss));
                        writeMetric(metrics, json, step + 1, trainLoss, Double.NaN, sched.lrMultiplier(step), tokens, trainTimeMs);
                        clearBar();
                        console.printf(Locale.ROOT, "step:%d/%d train_loss:%.4f train_time:%.0fms step_avg:%.2fms%n", step + 1, trainSteps,
                                trainLoss, trainTimeMs, trainTimeMs / (step + 1 - start));
                        bar(step + 1, trainSteps, trainTimeMs / (step + 1 - start));
                    }
                    int every = cfg.checkpoint().every();
                    if (every > 0 && (step + 1) % every == 0 && step + 1 < trainSteps)
                        lastCk = checkpoint(model, opt, comm, train.position(), step + 1, trainTimeMs, tokens);
                }
                if (lead) metrics.flush();
                lastCk = checkpoint(model, opt, comm, train.position(), trainSteps, trainTimeMs, tokens);
            }
            for (TrainingHook h : hooks) h.onRunEnd(ctx);
            if (!lead) return null;
            clearBar();
            Path plot = runDir.resolve("loss.svg");
            LossPlot.write(plot, "train-app " + runDir.getFileName() + " (" + String.join(",", cfg.plugins()) + ")", trainPts, valPts);
            return new Result(runDir, trainSteps - start, vals.isEmpty() ? Double.NaN : vals.getLast(), List.copyOf(vals), firstTrain,
                    lastTrain, metricsFile, plot, lastCk);
        }
    }

    private double validate(Gpt model, ValBatcher val, LossFunction loss, Collectives comm, Tensor red, Windows w) {
        val.reset();
        int n = valTokensPerRank(), steps = valSteps();
        double sum = 0;
        for (int i = 0; i < steps; i++) {
            Batch b = val.next(n);
            sum += model.evaluate(b.inputs(), b.targets(), b.cuSeqlens(), w.shortBlocks(), w.longBlocks(), loss);
        }
        double[] s = allSum(comm, red, sum, steps);
        return s[0] / s[1];
    }

    /** Sums two numbers over the ranks. */
    private static double[] allSum(Collectives comm, Tensor red, double a, double b) {
        if (comm.worldSize() == 1) return new double[] {a, b};
        HostData.write(red, new double[] {a, b});
        comm.allReduce(red, Collectives.Reduce.SUM);
        return HostData.toDoubles(red);
    }

    private Path checkpoint(Gpt model, Optimizers opt, Collectives comm, DataPosition pos, int step, double trainTimeMs, long tokens) {
        Path tmp = runDir.resolve("checkpoints").resolve(String.format("step-%06d.tmp", step));
        comm.barrier();
        if (comm.rank() == 0 && Files.exists(tmp)) {
            try { TrainCheckpoint.deleteTree(tmp); } catch (IOException e) { throw new UncheckedIOException(e); }
        }
        comm.barrier();
        try (MemoryArena scratch = model.ops().backend().newArena()) {
            var states = TrainCheckpoint.exportStates(opt, scratch);   // a collective
            TrainCheckpoint.writeGrads(tmp, model, comm.rank());
            comm.barrier();
            Path dst = null;
            if (comm.rank() == 0) {
                TrainCheckpoint.writeModelAndState(tmp, model, states, step, pos, Map.of(
                        "train_time_ms", String.valueOf(trainTimeMs), "tokens", String.valueOf(tokens),
                        "world_size", String.valueOf(comm.worldSize())));
                dst = TrainCheckpoint.publish(tmp, runDir, step);
            }
            comm.barrier();
            return dst == null ? TrainCheckpoint.folder(runDir, step) : dst;
        }
    }

    private static void writeMetric(BufferedWriter out, ObjectMapper json, int step, double trainLoss, double valLoss, double lr,
                                    long tokens, double timeMs) throws IOException {
        ObjectNode o = json.createObjectNode();
        o.put("step", step);
        if (Double.isNaN(trainLoss)) o.putNull("train_loss"); else o.put("train_loss", trainLoss);
        if (Double.isNaN(valLoss)) o.putNull("val_loss"); else o.put("val_loss", valLoss);
        o.put("lr", lr);
        o.put("tokens", tokens);
        o.put("time_ms", Math.round(timeMs * 1000) / 1000.0);
        out.write(json.writeValueAsString(o));
        out.write('\n');
        out.flush();
    }

    /** On resume: keeps the metrics of steps before the checkpoint (drops any written after it) and reloads them for the plot. */
    private static void readMetrics(Path file, ObjectMapper json, int upTo, boolean redoVal, List<LossPlot.Point> train,
                                    List<LossPlot.Point> val)
            throws IOException {
        if (!Files.isRegularFile(file)) return;
        List<String> kept = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            if (line.isBlank()) continue;
            var n = json.readTree(line);
            int step = n.get("step").asInt();
            boolean isVal = !n.get("val_loss").isNull();
            if (step > upTo || isVal && step == upTo && redoVal) continue;   // redone by this run
            kept.add(line);
            if (isVal) val.add(new LossPlot.Point(step, n.get("val_loss").asDouble()));
            else train.add(new LossPlot.Point(step, n.get("train_loss").asDouble()));
        }
        Files.write(file, kept);
    }

    private void bar(int done, int total, double msPerStep) {
        if (!progressBar) return;
        int width = 30, filled = (int) ((long) width * done / Math.max(1, total));
        double etaS = (total - done) * msPerStep / 1000;
        System.err.printf(Locale.ROOT, "\r[%s%s] %3d%% eta %dm%02ds", "#".repeat(filled), ".".repeat(width - filled),
                100L * done / Math.max(1, total), (long) etaS / 60, (long) etaS % 60);
        System.err.flush();
    }

    private void clearBar() {
        if (progressBar) { System.err.print("\r\033[K"); System.err.flush(); }
    }
}
