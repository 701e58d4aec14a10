package dev.speedrun.app;

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
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.RankPlan;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.model.Checkpoints;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.Precision;
import dev.speedrun.optim.OptimizerConfig;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.schedules.RecordSchedules;
import dev.speedrun.schedules.TrainingHook;
import dev.speedrun.schedules.Windows;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.OutOfDeviceMemoryException;
import dev.speedrun.tensor.Tensor;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The training loop (spec §3, §5): per step a {@link TrainStep} (gradient accumulation over
 * {@code micro_batches / world_size} micro-batches, NorMuon every step, Adam on odd steps, the
 * scalar optimizer frozen after transitions), YaRN updated when the long window changes,
 * validation every {@code val_every} steps and at the end with the clock stopped (the final one
 * with the final window), checkpoints every {@code checkpoint.every} steps and at the end, all
 * reported by a {@link RunLog}; a resumed run starts from its checkpoint's {@link TrainStart}.
 * Ranks are placed by the backend ({@link RankPlan}: in-process collectives on CPU, one GPU and
 * NCCL per rank on cuda; with several nodes each process runs its GPUs' ranks) and run by
 * {@link RankRuntime}; rank 0 writes the run folder and {@link #run} returns null on the other
 * processes.
 */
public final class Trainer {
    /** What a finished run produced. */
    public record Result(Path runDir, int stepsTrained, double lastValLoss, List<Double> valLosses, double firstTrainLoss,
                         double lastTrainLoss, Path metrics, Path plot, Path checkpoint) {}

    private final TrainConfig cfg;
    private final TrainingParts parts;
    private final RecordSchedules sched;
    private final RankPlan plan;
    private final Path runDir;
    private final Path resume;
    private final PrintStream console;
    private final boolean progressBar;
    private final GptConfig modelConfig;
    private final int gradAccum;
    private final int trainSteps;
    private final Path initWeights;
    private final Precision precision;

    /**
     * A trainer of {@code cfg} made of {@code parts}, its ranks placed by {@code plan}, writing
     * {@code runDir}; {@code resume} is the checkpoint to continue from, or null.
     */
    Trainer(TrainConfig cfg, TrainingParts parts, RankPlan plan, Path runDir, Path resume, PrintStream console, boolean progressBar) {
        this(cfg, parts, plan, runDir, resume, null, cfg.trainSteps(), console, progressBar);
    }

    /**
     * As above, starting a fresh run from {@code initWeights} (safetensors with the record's
     * state-dict names; null: the seeded initialisation) and training {@code trainSteps} steps
     * (0: write the step-0 checkpoint, after the step-0 validation, and stop).
     */
    Trainer(TrainConfig cfg, TrainingParts parts, RankPlan plan, Path runDir, Path resume, Path initWeights, int trainSteps,
            PrintStream console, boolean progressBar) {
        this.cfg = cfg;
        this.parts = parts;
        this.sched = parts.schedules();
        this.plan = plan;
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
        if (trainSteps < 0 || trainSteps > cfg.schedule().totalSteps())
            throw new ConfigException("steps must be 0.." + cfg.schedule().totalSteps() + " (the schedule), got " + trainSteps);
        if (initWeights != null && resume != null)
            throw new ConfigException("--init-weights starts a fresh run and --resume continues one: give one of them");
        this.trainSteps = trainSteps;
        this.initWeights = initWeights;
        this.precision = cfg.precision().resolve(cfg.backend());
        valSteps();   // a validation that does not divide is an error before anything runs
    }

    Precision precision() { return precision; }

    /** The optimizer instances of the record (spec §5) from the configuration. */
    List<OptimizerConfig> optimizerConfigs() {
        // the record's dtypes (docs/model.md): state in each parameter's dtype, Polar Express BF16 in mixed precision
        return RecordOptimizers.configs(cfg.optim(), parts.normuonMask(), parts.adamMask(), precision);
    }

    /** Tokens per rank and micro-batch of the largest training step. */
    int maxTrainTokens() {
        long max = 0;
        for (int s = 0; s < sched.totalSteps(); s++) max = Math.max(max, sched.batchTokens(s));
        return TrainBatcher.tokensPerRank(max, cfg.worldSize(), gradAccum);
    }

    /**
     * Tokens of one validation forward: {@code validation.batch_tokens / micro_batches} (262,144
     * for the record), whatever the world size, so the chunks, and the loss, are the same on any
     * number of ranks (docs/record-178.md §1); each rank runs grad_accum of them per validation step.
     */
    int valTokensPerForward() {
        var v = cfg.validation();
        if (v.batchTokens() < 1 || v.batchTokens() % cfg.microBatches() != 0)
            throw new ConfigException("validation.batch_tokens (" + v.batchTokens() + ") must be a positive multiple of micro_batches ("
                    + cfg.microBatches() + "): every validation forward covers validation.batch_tokens / micro_batches tokens");
        long n = v.batchTokens() / cfg.microBatches();
        if (n > Integer.MAX_VALUE - 256) throw new ConfigException("validation.batch_tokens / micro_batches = " + n + " tokens is too large for one forward");
        return (int) n;
    }

    /** Validation steps: exactly {@code validation.tokens} tokens are evaluated. */
    int valSteps() {
        var v = cfg.validation();
        valTokensPerForward();   // batch_tokens against micro_batches first: its error names the first key to fix
        if (v.tokens() < v.batchTokens() || v.tokens() % v.batchTokens() != 0)
            throw new ConfigException("validation.tokens (" + v.tokens() + ") must be a positive multiple of validation.batch_tokens ("
                    + v.batchTokens() + "): a validation evaluates exactly validation.tokens tokens");
        return Math.toIntExact(v.tokens() / v.batchTokens());
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

    public Result run() {
        List<Path> trainFiles = shards(cfg.trainData(), "train_data");
        List<Path> valFiles = shards(cfg.valData(), "val_data");
        try {
            Files.createDirectories(runDir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create run folder " + runDir + ": " + Checkpoints.describe(e), e);
        }
        Path ck = resume == null ? null : checkedResume();
        boolean grads = ck == null || reshardFrom(ck) == cfg.worldSize();
        if (!plan.note().isEmpty()) console.println("train-app: " + plan.note());
        try (Interrupts ignored = Interrupts.install(console)) {
            return RankRuntime.run(plan, rk -> runRank(rk.comm(), rk.ops(), trainFiles, valFiles, ck, grads));
        }
    }

    /**
     * The checkpoint to resume: the newest complete one (the skipped ones named), every file
     * checked against its manifest, written by this configuration (what differs is named).
     */
    private Path checkedResume() {
        TrainCheckpoint.Pick pick = TrainCheckpoint.pick(resume);
        Path ck = pick.checkpoint();
        List<String> skipped = pick.skipped();
        if (skipped.isEmpty() && ck.getParent() != null) {
            // the command hands over the checkpoint it resolved from the run folder: name what that passed over
            TrainCheckpoint.Pick inFolder = TrainCheckpoint.pick(ck.getParent());
            if (inFolder.checkpoint().equals(ck)) skipped = inFolder.skipped();
        }
        for (String s : skipped) console.println("train-app: --resume skipped " + s);
        int files = TrainCheckpoint.verify(ck);
        TrainCheckpoint.requireSameConfig(ck, cfg, false);
        console.println("train-app: resuming from " + ck + " (" + files + " files match their checksums)");
        return ck;
    }

    /**
     * The world size the checkpoint was written with. Another one is allowed when the state can
     * be re-sharded: the optimizer state is saved whole, but each rank's pending gradients (Adam
     * accumulates over two steps) belong to that rank's data, so only a checkpoint without them
     * (every gradient zero: the steps right after an Adam step) continues on another world size.
     */
    private int reshardFrom(Path ck) {
        var st = TrainCheckpoint.readState(ck);
        int then = Integer.parseInt(st.info().getOrDefault("world_size", String.valueOf(cfg.worldSize())));
        if (then == cfg.worldSize()) return then;
        if (TrainCheckpoint.pendingGradients(ck, then))
            throw new ConfigException("--resume " + ck + ": written with world_size " + then + ", this run has " + cfg.worldSize()
                    + "; it holds pending gradients of " + then + " ranks (Adam accumulates over two steps), which cannot be re-sharded: "
                    + "resume with --world-size " + then + ", or from a checkpoint right after an Adam step (an even step count)");
        console.println("train-app: re-sharding the checkpoint of world_size " + then + " onto " + cfg.worldSize()
                + " ranks (no pending gradients; the run is not bit-identical to one on " + then + " ranks)");
        return then;
    }

    /** One rank's run; out of device memory is reported with what was being allocated and what to change. */
    private Result runRank(Collectives comm, Ops ops, List<Path> trainFiles, List<Path> valFiles, Path ck, boolean loadGrads)
            throws IOException {
        String[] phase = {"the model"};   // what was being allocated, set as the run goes
        try {
            return runRank(comm, ops, trainFiles, valFiles, ck, loadGrads, phase);
        } catch (OutOfDeviceMemoryException e) {
            int tokens = maxTrainTokens(), world = comm.worldSize();
            throw new IllegalStateException("rank " + comm.rank() + ": " + e.getMessage() + " for " + phase[0] + " with "
                    + TrainBatcher.tokensPerRank(sched.batchTokens(0), world, gradAccum) + ".." + tokens
                    + " tokens per micro-batch; use smaller micro-batches (micro_batches " + cfg.microBatches() + " → "
                    + cfg.microBatches() * 2 + " halves them) or more ranks (world_size " + world + " → " + world * 2 + ")", e);
        }
    }

    private static <T> T allocating(String[] phase, String what, java.util.function.Supplier<T> make) {
        phase[0] = what;
        return make.get();
    }

    private Result runRank(Collectives comm, Ops ops, List<Path> trainFiles, List<Path> valFiles, Path ck, boolean loadGrads, String[] phase)
            throws IOException {
        int rank = comm.rank(), world = comm.worldSize();
        boolean lead = rank == 0;
        int maxTokens = maxTrainTokens();
        // evaluation forwards of valTokensPerForward tokens run on the model's forward-only plan
        try (Gpt model = allocating(phase, "the model (parameters, gradients, activations of " + maxTokens + " tokens)",
                     () -> new Gpt(modelConfig, ops, precision, maxTokens, Math.max(maxTokens, valTokensPerForward()), world, cfg.seed()));
             Optimizers opt = allocating(phase, "the optimizer state", () -> Optimizers.build(optimizerConfigs(), model, ops, comm));
             MemoryArena scratch = ops.backend().newArena()) {
            phase[0] = "a training step's buffers";
            Tensor red = scratch.allocate(DType.F64, 2);
            opt.zeroAllGrads();
            if (initWeights != null) loadInitWeights(model);
            TrainStart from = ck == null ? TrainStart.FRESH : TrainStart.resume(ck, model, opt, rank, trainSteps, loadGrads);
            int start = from.step();
            RankContext ctx = new RankContext(model, opt, sched, trainSteps);
            ctx.step = start;
            for (TrainingHook h : parts.hooks()) h.onRunStart(ctx);
            List<TrainingHook> hooks = new ArrayList<>(parts.hooks());
            hooks.add(new TrainingHook() {
                @Override public void afterBackward(dev.speedrun.schedules.TrainingContext c) { Faults.hold(Faults.Where.STEP, c.step()); }
            });
            TrainingParts stepParts = new TrainingParts(parts.schedules(), hooks, parts.loss(), parts.tokenWeights(), parts.normuonMask(),
                    parts.adamMask());
            FiniteGuard guard = new FiniteGuard(model, ops);
            TrainStep trainStep = new TrainStep(stepParts, model, opt, comm, guard,
                    scratch.allocate(precision.statistics(), TrainStep.slots(guard)), gradAccum, cfg.model().maxSeqLen());
            LongWindow yarn = new LongWindow(model);

            List<Double> vals = new ArrayList<>();
            double trainTimeMs = from.trainTimeMs();
            long tokens = from.tokens();
            double firstTrain = Double.NaN, lastTrain = Double.NaN;
            Path lastGood = ck;
            try (TrainBatcher train = new TrainBatcher(trainFiles, world, rank, from.position(), Shard.BOS);
                 ValBatcher val = new ValBatcher(valFiles, world, rank);
                 RunLog log = lead ? RunLog.lead(runDir, ck != null, start, sched.validateAt(start) || start == trainSteps, trainSteps,
                         console, progressBar) : RunLog.silent()) {
                for (int step = start; ; step++) {
                    ctx.step = step;
                    boolean last = step == trainSteps;
                    // YaRN follows this step's window; past the schedule's end (the final validation) the last step's stays
                    yarn.follow(Math.min(step, sched.totalSteps() - 1));
                    if (last || sched.validateAt(step)) {
                        // the clock stops during validation
                        double v = validate(model, val, parts.loss(), comm, red, sched.validationWindows(step), step);
                        vals.add(v);
                        for (TrainingHook h : parts.hooks()) h.onValidation(ctx, v);
                        log.validation(step, v, cfg.validation().tokens(), sched.lrMultiplier(Math.min(step, sched.totalSteps())), tokens, trainTimeMs);
                    }
                    if (last) break;
                    long t0 = System.nanoTime();
                    TrainStep.Outcome done;
                    try {
                        done = trainStep.run(ctx, train);
                        FiniteGuard.checkLoss(step, done.trainLoss());
                    } catch (FiniteGuard.NonFiniteException e) {
                        // nothing of this step is reported or saved: the last checkpoint is the last good state
                        throw new FiniteGuard.NonFiniteException(e.step, e.getMessage() + "; nothing of this step was saved; last good checkpoint: "
                                + (lastGood == null ? "none (no checkpoint written yet)" : lastGood));
                    }
                    trainTimeMs += (System.nanoTime() - t0) / 1e6;
                    tokens += done.tokens();
                    if (Double.isNaN(firstTrain)) firstTrain = done.trainLoss();
                    lastTrain = done.trainLoss();
                    log.trainStep(step + 1, done.trainLoss(), sched.lrMultiplier(step), tokens, trainTimeMs);
                    int every = cfg.checkpoint().every();
                    boolean stop = done.stopRequested();
                    if (step + 1 < trainSteps && (stop || every > 0 && (step + 1) % every == 0))
                        lastGood = checkpoint(model, opt, comm, train.position(), step + 1, trainTimeMs, tokens);
                    if (stop && step + 1 < trainSteps)
                        throw new Interrupts.StoppedException("interrupted: stopped after step " + (step + 1) + " of " + trainSteps
                                + " with checkpoint " + lastGood + "; continue with --resume " + runDir);
                }
                // a resume of a finished run keeps its final checkpoint: it holds this state already (verified
                // above), and rewriting it would put the only copy of the end state through a delete and a rename
                Path lastCk = ck != null && start == trainSteps ? ck
                        : checkpoint(model, opt, comm, train.position(), trainSteps, trainTimeMs, tokens);
                for (TrainingHook h : parts.hooks()) h.onRunEnd(ctx);
                if (!lead) return null;
                Path plot = log.plot("train-app " + runDir.getFileName() + " (" + String.join(",", cfg.plugins()) + ")");
                return new Result(runDir, trainSteps - start, vals.isEmpty() ? Double.NaN : vals.getLast(), List.copyOf(vals),
                        firstTrain, lastTrain, RunLog.metricsFile(runDir), plot, lastCk);
            }
        }
    }

    /** Whether Ctrl-C asked to stop, agreed by all ranks (rank 0's signal decides; one tiny reduction per step). */
    /** The {@code --init-weights} file into the freshly initialised model; a tensor that does not fit is named. */
    private void loadInitWeights(Gpt model) {
        try {
            Checkpoints.load(model, initWeights);
        } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
            throw new ConfigException("--init-weights " + initWeights + ": " + e.getMessage().replace("checkpoint " + initWeights + ": ", ""));
        }
    }

    /**
     * YaRN in step with the schedule's long window: every change up to the step followed is
     * applied in order, so a resumed run, whose first call replays the steps before its start,
     * re-derives the state of the run it continues.
     */
    private final class LongWindow {
        private final Gpt model;
        private int step;
        private int longBlocks;

        LongWindow(Gpt model) {
            this.model = model;
            this.longBlocks = sched.windows(0).longBlocks();
        }

        void follow(int upTo) {
            for (; step < upTo; step++) {
                int l = sched.windows(step + 1).longBlocks();
                if (l != longBlocks) { model.yarn().apply(longBlocks, l); longBlocks = l; }
            }
        }
    }

    /**
     * The record's validation (§1): {@code valSteps()} steps of grad_accum forwards per rank, each of
     * {@link #valTokensPerForward()} contiguous tokens (the batcher hands rank r the r-th chunk of
     * each world-size group), so every rank count evaluates the same chunks; the loss is the mean
     * over all forwards of each forward's mean cross-entropy.
     */
    private double validate(Gpt model, ValBatcher val, LossFunction loss, Collectives comm, Tensor red, Windows w, int step) {
        val.reset();
        int n = valTokensPerForward(), forwards = valSteps() * gradAccum;
        double sum = 0;
        for (int i = 0; i < forwards; i++) {
            if (i == forwards / 2) Faults.hold(Faults.Where.VALIDATION, step);
            Batch b = val.next(n);
            sum += model.evaluate(b.inputs(), b.targets(), b.cuSeqlens(), w.shortBlocks(), w.longBlocks(), loss);
        }
        double[] s = TrainStep.allSum(comm, red, sum, forwards);
        return s[0] / s[1];
    }

    /**
     * Writes the checkpoint of {@code step}: every rank its gradients, rank 0 the rest and the
     * manifest, then the folder gets its name. A failure (a full disk) removes the temporary
     * folder and names the file; the previous checkpoint is untouched.
     */
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
                var digests = TrainCheckpoint.writeModelAndState(tmp, model, states, step, pos, Map.of(
                        "train_time_ms", String.valueOf(trainTimeMs), "tokens", String.valueOf(tokens),
                        "world_size", String.valueOf(comm.worldSize())), TrainCheckpoint.configFacts(cfg));
                TrainCheckpoint.seal(tmp, digests, comm.worldSize());
                dst = TrainCheckpoint.publish(tmp, runDir, step);
            }
            comm.barrier();
            return dst == null ? TrainCheckpoint.folder(runDir, step) : dst;
        } catch (RuntimeException e) {
            if (comm.rank() == 0) {
                try {
                    if (Files.exists(tmp)) TrainCheckpoint.deleteTree(tmp);
                } catch (IOException cleanup) {
                    e.addSuppressed(cleanup);
                }
            }
            throw e;
        }
    }
}
