package dev.speedrun.app;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.losses.LossFunctions;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.ParamSpec;
import dev.speedrun.model.Precision;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.optim.StepPlan;
import java.util.Arrays;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code bench step}: times the model's forward+backward micro-step ({@link Gpt#forwardBackward})
 * on random tokens split into a few documents, and prints one row per token count: ms per step,
 * tokens/s and model GFLOP/s. Model FLOPs per step = 6 · (matmul parameters) · T + attention
 * FLOPs (12 · H · D · Σ_queries keys seen, i.e. forward QKᵀ and PV plus twice that backward).
 * Matmul parameters are all parameters except the embedding lookups (embed, value embeddings);
 * the tied/untied lm_head is a matmul and counts. {@code --with-optimizer} adds the optimizer
 * step (not counted in the FLOPs); {@code --dtype mixed} is the record's mixed precision. On a
 * CUDA backend each micro-step runs as a replayable region (CUDA graphs, docs/cuda.md), as in
 * training; {@code --no-graphs} sends every launch on its own.
 */
@Command(name = "step", mixinStandardHelpOptions = true,
        description = "Times forward+backward micro-steps of the model (optionally with the optimizer step) and prints ms/step, tokens/s, GFLOP/s.")
public final class BenchStepCommand implements Callable<Integer> {
    @Option(names = "--backend", defaultValue = "cpu", description = "backend name: cpu, cuda or cuda-emu (default: ${DEFAULT-VALUE})") String backend;
    @Option(names = "--preset", description = "model preset: record178, tiny, cpu-small (default: cpu-small unless sizes are given)") String preset;
    @Option(names = "--vocab", description = "vocabulary size (sizes mode; with --width, --heads, --head-dim)") Integer vocab;
    @Option(names = "--width", description = "model width C (sizes mode)") Integer width;
    @Option(names = "--heads", description = "attention heads H (sizes mode)") Integer heads;
    @Option(names = "--head-dim", description = "head dimension D (sizes mode; H·D must equal the width)") Integer headDim;
    @Option(names = "--block", defaultValue = "16", description = "window block size in tokens (sizes mode; default: ${DEFAULT-VALUE})") int block;
    @Option(names = "--tokens", split = ",", defaultValue = "256", description = "tokens per micro-step, a comma list (default: ${DEFAULT-VALUE})") int[] tokens;
    @Option(names = "--window-short", description = "short window in tokens (default: T/4, rounded to whole blocks, at least one block)") Integer windowShort;
    @Option(names = "--window-long", description = "long window in tokens (default: 3T/4, rounded to whole blocks, at least one block)") Integer windowLong;
    @Option(names = "--docs", defaultValue = "4", description = "documents per micro-step (random lengths; default: ${DEFAULT-VALUE})") int docs;
    @Option(names = "--dtype", defaultValue = "f32",
            description = "model precision: f32, f64, bf16, or mixed (the record's: spec parameter dtypes, BF16 activations; default: ${DEFAULT-VALUE})") String dtype;
    @Option(names = "--with-optimizer", description = "include the optimizer step (NorMuon + Adam as the record, Adam on odd steps) in each timed step") boolean withOptimizer;
    @Option(names = "--iters", defaultValue = "5", description = "timed micro-steps per token count (default: ${DEFAULT-VALUE})") int iters;
    @Option(names = "--warmup", defaultValue = "2", description = "untimed micro-steps first (default: ${DEFAULT-VALUE})") int warmup;

    @Option(names = "--profile", paramLabel = "FILE.json",
            description = "after timing the largest --tokens count, profile one training step there on a CUDA device (cuda or cuda-emu): "
                    + "launches, FLOPs and bytes per kernel family, host syncs, the estimate at the device's peak rates (docs/cuda.md)")
    java.nio.file.Path profile;

    @Option(names = "--no-graphs",
            description = "send every kernel launch on its own instead of replaying identical micro-steps as CUDA graphs "
                    + "(graphs are on by default on CUDA backends; also -Dspeedrun.cuda.graphs=false or SPEEDRUN_CUDA_GRAPHS=0)")
    boolean noGraphs;

    @Override public Integer call() {
        GptConfig cfg = config();
        if (iters < 1) throw new IllegalArgumentException("--iters must be ≥ 1, got " + iters);
        if (warmup < 0) throw new IllegalArgumentException("--warmup must be ≥ 0, got " + warmup);
        if (docs < 1) throw new IllegalArgumentException("--docs must be ≥ 1, got " + docs);
        if (tokens.length == 0) throw new IllegalArgumentException("--tokens needs at least one count");
        for (int t : tokens) if (t < 1) throw new IllegalArgumentException("--tokens entries must be ≥ 1, got " + t);
        Precision precision;
        try {
            precision = Precision.parse(dtype);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--dtype must be f32, f64, bf16 or mixed, got '" + dtype + "'");
        }
        Ops ops = Kernels.ops(backend);
        if (profile != null) StepProfiler.requireCuda(ops);
        LossFunction loss = LossFunctions.defaultLoss();
        long matmulParams = 0;
        for (ParamSpec s : Gpt.specs(cfg, 1))
            if (!s.label().equals("embed") && !s.label().equals("value_embed")) matmulParams += s.shape().numel();
        int maxT = Arrays.stream(tokens).max().orElseThrow();
        System.out.printf("bench step: backend %s, dtype %s, vocab %d, layers %d, heads %d × %d, width %d, %d matmul params; "
                        + "%s; %d warm-up + %d timed steps%n",
                ops.backend().name(), precision.key(), cfg.vocabSize(), cfg.numLayers(), cfg.numHeads(), cfg.headDim(),
                cfg.modelDim(), matmulParams,
                withOptimizer ? "forward+backward+optimizer step (NorMuon + Adam)" : "forward+backward only (no optimizer step)",
                warmup, iters);
        System.out.printf("%8s %8s %8s %11s %12s %12s %9s%n", "tokens", "win_s", "win_l", "ms/step", "best ms", "tokens/s", "GFLOP/s");
        // the optimizers' dtypes as in training (RecordOptimizers: the record's in mixed precision)
        try (Gpt gpt = new Gpt(cfg, ops, precision, maxT, 1, 1234);
             Optimizers opt = withOptimizer ? RecordOptimizers.build(gpt, ops, precision) : null) {
            long[] stepNo = {0};
            for (int T : tokens) {
                int bs = cfg.blockSize();
                int ws = blocks(windowShort, T / 4, bs), wl = blocks(windowLong, 3 * T / 4, bs);
                SplittableRandom r = new SplittableRandom(T);
                int[] in = new int[T], tg = new int[T];
                for (int i = 0; i < T; i++) { in[i] = r.nextInt(cfg.vocabSize()); tg[i] = r.nextInt(cfg.vocabSize()); }
                int[] cu = documents(T, Math.min(docs, T), r);
                double flops = 6.0 * matmulParams * T;
                for (int l = 0; l < cfg.numLayers(); l++)
                    if (cfg.hasAttention(l))
                        flops += 12.0 * cfg.numHeads() * cfg.headDim() * keysSeen(cu, (cfg.isLongWindow(l) ? wl : ws) * bs);
                double[] w = {1.0};
                boolean graphs = !noGraphs;
                for (int i = 0; i < warmup; i++) step(gpt, opt, stepNo, ops, in, tg, cu, ws, wl, loss, w, graphs);
                double[] ms = Timings.sortedMs(iters, () -> step(gpt, opt, stepNo, ops, in, tg, cu, ws, wl, loss, w, graphs));
                double med = Timings.median(ms);
                System.out.printf("%8d %8d %8d %11.2f %12.2f %12.0f %9.2f%n", T, ws * bs, wl * bs, med, ms[0], T / med * 1e3, flops / med / 1e6);
                if (profile != null && T == maxT)
                    StepProfiler.run(profile, gpt, opt, ops, new StepProfiler.Batch(in, tg, cu, ws, wl, loss, w), stepNo, !noGraphs);
            }
        }
        return 0;
    }

    /**
     * One micro-step (a replayable region when {@code graphs}); with an optimizer, its step too (it
     * zeroes the gradients it consumed, as in training).
     */
    private static void step(Gpt gpt, Optimizers opt, long[] stepNo, Ops ops, int[] in, int[] tg, int[] cu, int ws, int wl,
                             LossFunction loss, double[] w, boolean graphs) {
        if (opt == null) gpt.zeroGrads();
        if (graphs) ops.backend().replayable(() -> gpt.forwardBackward(in, tg, cu, ws, wl, loss, w, 1.0));
        else gpt.forwardBackward(in, tg, cu, ws, wl, loss, w, 1.0);
        if (opt != null) opt.step(StepPlan.record(stepNo[0]++, 1.0, 0.95, Set.of()));
        ops.backend().synchronize();
    }

    private GptConfig config() {
        boolean sizes = vocab != null || width != null || heads != null || headDim != null;
        if (sizes && preset != null) throw new IllegalArgumentException("give either --preset or sizes (--vocab --width --heads --head-dim), not both");
        if (!sizes) return GptConfig.preset(preset == null ? "cpu-small" : preset);
        if (vocab == null || width == null || heads == null || headDim == null)
            throw new IllegalArgumentException("sizes mode needs all of --vocab, --width, --heads, --head-dim");
        if (heads * headDim != width)
            throw new IllegalArgumentException("--heads × --head-dim must equal --width, got " + heads + " × " + headDim + " ≠ " + width);
        if (block < 1) throw new IllegalArgumentException("--block must be ≥ 1, got " + block);
        return GptConfig.withSizes(vocab, 11, heads, headDim, width, block, Math.min(12, width));
    }

    /** A window in whole blocks: the given tokens (or the default), rounded, at least one block. */
    private static int blocks(Integer tokensOrNull, int fallback, int blockSize) {
        int t = tokensOrNull == null ? fallback : tokensOrNull;
        if (t < 0) throw new IllegalArgumentException("window must be ≥ 0 tokens, got " + t);
        return Math.max(1, Math.round((float) t / blockSize));
    }

    /** cu_seqlens of n documents with random cut points in (0, T). */
    private static int[] documents(int T, int n, SplittableRandom r) {
        int[] cu = new int[n + 1];
        for (int i = 1; i < n; i++) cu[i] = 1 + r.nextInt(Math.max(1, T - 1));
        cu[n] = T;
        Arrays.sort(cu, 1, n);
        return cu;
    }

    /** Σ over queries of the keys each attends to (causal, windowed, within its document). */
    private static double keysSeen(int[] cu, int window) {
        double s = 0;
        for (int d = 0; d + 1 < cu.length; d++)
            for (int p = cu[d]; p < cu[d + 1]; p++) s += p - Math.max(cu[d], p - window) + 1;
        return s;
    }
}
