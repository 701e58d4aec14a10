package dev.speedrun.model;

import dev.speedrun.kernels.Ops;
import dev.speedrun.losses.LossBatch;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.model.Activations.Attention;
import dev.speedrun.model.Activations.Block;
import dev.speedrun.model.Activations.Embedding;
import dev.speedrun.model.Activations.Gradients;
import dev.speedrun.model.Activations.Head;
import dev.speedrun.model.Activations.Inputs;
import dev.speedrun.model.Activations.Skip;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Shape;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The record-178 GPT (spec §2) with explicit forward and backward passes written against
 * {@link Ops} only, so it runs on any backend. Parameters, gradients and activations
 * ({@link Activations}) live in one arena block allocated at construction for micro-batches of up
 * to {@code maxTokens} tokens; a step allocates no backend memory. After the LM head the model
 * calls a {@link LossFunction} (the losses SPI) on its head buffers.
 *
 * <p>Gradients <b>accumulate</b> across calls of {@link #forwardBackward}; the optimizer decides
 * when to zero them ({@link #zeroGrads()}, {@link #zeroGrads(java.util.function.Predicate)}).
 *
 * <p>Not thread-safe: one instance per rank.
 */
public final class Gpt implements ParameterTable, AutoCloseable {
    private final GptConfig cfg;
    private final Ops ops;
    private final Precision precision;
    /** Activation dtype and saved-statistics dtype (see {@link Precision}). */
    private final DType dtype, stat;
    private final int maxTokens;
    private final int worldSize;
    private final MemoryArena arena;
    private final List<Parameter> params;
    private final Arena hostArena = Arena.ofShared();
    private final MemorySegment staging;
    private final Yarn yarn;
    private boolean splitEmbed;
    /** The next forward may skip the working-copy refresh ({@link #reuseWorkingCopies}). */
    private boolean reuseWorking;
    /** Told when each gradient is final in a backward ({@link #setGradientListener}); null: nobody. */
    private GradientListener gradientListener;
    /** Per parameter (table order): announced to the listener in the running backward. */
    private boolean[] announced;
    private final java.util.IdentityHashMap<Parameter, Integer> paramIndex = new java.util.IdentityHashMap<>();

    // sizes
    private final int L, C, H, D, HD, F, V, G;

    // parameters
    private final Parameter smearGate, lmHead, embed, x0Lambdas, scalars;
    private final Parameter[] valueEmbeds, qkvo, attnGate, cFc, cProj;
    /** GEMM weights whose dtype differs from the activations' -> their working copy (mixed precision). */
    private final Map<Parameter, Tensor> working;

    // activations (views of the arena; see Activations)
    /** Training: forward and backward of up to maxTokens tokens. */
    private final Plan train;
    /** Evaluation: forward only, up to evalTokens tokens; the training plan itself where evalTokens ≤ maxTokens. */
    private final Plan eval;
    /** The backward's scratch ({@link Activations.GradientSlab}). */
    private final Activations.GradientSlab grads;

    // the LM head in FP8 (spec §2.5)
    /** Whether training runs the LM head in FP8 (mixed precision, switch on, FP8 GEMMs on the backend). */
    private final boolean fp8Head;
    /** Why a mixed-precision model with the switch on runs its head in BF16 (the backend has no FP8 GEMMs), or empty. */
    private final java.util.Optional<String> fp8Notice;
    /** The record's per-tensor dequantisation factors as [1] F32 tensors: x, lm_head weight, output gradient. */
    private final Tensor xScale, wScale, gradScale;

    /**
     * The activation buffers of one forward size. {@code headRows} bounds the rows of logits
     * computed at once: the LM head and the loss run in row chunks of at most that many tokens.
     */
    private record Plan(int tokens, int cuCapacity, int headRows, Activations.InputSets inputSets, Embedding embedding, Skip skip,
                        List<Block> blocks, Head head) {
        /** The input set of the last upload. */
        Inputs inputs() { return inputSets.current(); }

        /** The blocks' views for a micro-batch of T tokens. */
        List<Block> blocks(int T) {
            List<Block> bs = new ArrayList<>(blocks.size());
            for (Block b : blocks) bs.add(b.at(T));
            return bs;
        }
    }

    /**
     * Bytes the logits of one evaluation head chunk may take (a forward-only plan computes the LM
     * head and the loss in row chunks so that a 262,144-token validation forward never holds its
     * [T, V] logits at once: 1 GiB is ~10K rows of the record's BF16 50304-column logits).
     */
    static final long EVAL_LOGITS_BYTES = 1L << 30;

    /** Everything the arena holds, as {@link Slab#allocate} hands it out. */
    private record Layout(List<Parameter> params, Map<Parameter, Tensor> working, Tensor freqs, Plan train, Plan eval, Activations.GradientSlab grads,
                          Tensor fp8Scales) {}

    /**
     * A model in one dtype ({@link Precision#uniform}).
     * @param config    model sizes and structure (validated here)
     * @param ops       the backend's ops; every buffer lives on its backend
     * @param dtype     parameter and activation dtype (F64 or F32 on CPU)
     * @param maxTokens the largest micro-batch (tokens) this model will see
     * @param worldSize ranks; {@code scalars} is padded to a multiple of it
     * @param seed      initialisation seed (deterministic)
     */
    public Gpt(GptConfig config, Ops ops, DType dtype, int maxTokens, int worldSize, long seed) {
        this(config, ops, Precision.uniform(dtype), maxTokens, worldSize, seed);
    }

    /**
     * A model with the given dtypes ({@link Precision#MIXED} is the record's mixed precision);
     * other arguments as in {@link #Gpt(GptConfig, Ops, DType, int, int, long)}. Evaluation
     * forwards are limited to {@code maxTokens} tokens.
     */
    public Gpt(GptConfig config, Ops ops, Precision precision, int maxTokens, int worldSize, long seed) {
        this(config, ops, precision, maxTokens, maxTokens, worldSize, seed);
    }

    /**
     * A model whose {@link #evaluate} forwards may be larger than its training micro-batches
     * (the record's validation forwards 262,144 tokens per rank; its largest training micro-batch
     * is 49,152): where {@code evalTokens > maxTokens} a second, forward-only plan is allocated
     * with the rest, one buffer per role shared by the blocks (the skip-in and backout outputs
     * kept apart) and the LM head in row chunks of at most {@link #EVAL_LOGITS_BYTES} of logits.
     * @param evalTokens the largest evaluation forward (tokens)
     */
    public Gpt(GptConfig config, Ops ops, Precision precision, int maxTokens, int evalTokens, int worldSize, long seed) {
        this(config, ops, precision, maxTokens, evalTokens, 0, worldSize, seed);
    }

    /** As above with the evaluation head's chunk rows given (≤ 0: from {@link #EVAL_LOGITS_BYTES}); for tests of the chunking. */
    Gpt(GptConfig config, Ops ops, Precision precision, int maxTokens, int evalTokens, int evalHeadRows, int worldSize, long seed) {
        this(config, ops, precision, LmHeadFp8.fromEnvironment(), maxTokens, evalTokens, evalHeadRows, worldSize, seed);
    }

    /**
     * As {@link #Gpt(GptConfig, Ops, Precision, int, int, int, long)} with the FP8 LM head switch given
     * (the other constructors read it from {@link LmHeadFp8#ENV}, as the record does).
     */
    public Gpt(GptConfig config, Ops ops, Precision precision, LmHeadFp8 fp8, int maxTokens, int evalTokens, int worldSize, long seed) {
        this(config, ops, precision, fp8, maxTokens, evalTokens, 0, worldSize, seed);
    }

    Gpt(GptConfig config, Ops ops, Precision precision, LmHeadFp8 fp8, int maxTokens, int evalTokens, int evalHeadRows, int worldSize,
        long seed) {
        this.cfg = config.validate();
        this.ops = ops;
        this.precision = precision;
        this.dtype = precision.activations();
        this.stat = precision.statistics();
        if (maxTokens < 1) throw new IllegalArgumentException("maxTokens must be ≥ 1: " + maxTokens);
        if (evalTokens < 1) throw new IllegalArgumentException("evalTokens must be ≥ 1: " + evalTokens);
        if (worldSize < 1) throw new IllegalArgumentException("worldSize must be ≥ 1: " + worldSize);
        this.maxTokens = maxTokens;
        this.worldSize = worldSize;
        L = cfg.numLayers(); C = cfg.modelDim(); H = cfg.numHeads(); D = cfg.headDim(); HD = cfg.attnDim();
        F = cfg.mlpHidden(); V = cfg.vocabPadded(); G = cfg.gateInputDims();

        List<ParamSpec> specs = specs(cfg, worldSize);
        arena = ops.backend().newArena();
        Layout layout = Slab.allocate(arena, take -> layout(take, specs, evalTokens, evalHeadRows));
        params = layout.params();
        working = layout.working();
        train = layout.train();
        eval = layout.eval();
        grads = layout.grads();

        smearGate = get("smear_gate.weight");
        valueEmbeds = new Parameter[cfg.numValueEmbeds()];
        for (int j = 0; j < valueEmbeds.length; j++) valueEmbeds[j] = get("value_embeds." + j + ".weight");
        qkvo = new Parameter[L]; attnGate = new Parameter[L]; cFc = new Parameter[L]; cProj = new Parameter[L];
        for (int i = 0; i < L; i++) {
            if (cfg.hasAttention(i)) {
                qkvo[i] = get("blocks." + i + ".attn.qkvo_w");
                attnGate[i] = get("blocks." + i + ".attn.attn_gate.weight");
            }
            cFc[i] = get("blocks." + i + ".mlp.c_fc");
            cProj[i] = get("blocks." + i + ".mlp.c_proj");
        }
        lmHead = get("lm_head.weight");
        embed = get("embed.weight");
        x0Lambdas = get("x0_lambdas");
        scalars = get("scalars");
        embed.setHasGrad(false);
        for (int j = 0; j < params.size(); j++) paramIndex.put(params.get(j), j);
        announced = new boolean[params.size()];

        // the record's FP8 head applies to its mixed precision; a backend without FP8 GEMMs keeps BF16 and says so once
        boolean wanted = precision == Precision.MIXED && fp8 == LmHeadFp8.ON;
        java.util.Optional<String> why = wanted ? ops.fp8Unavailable() : java.util.Optional.empty();
        fp8Head = wanted && why.isEmpty();
        fp8Notice = why.map(w -> "LM head in BF16, not the record's FP8: " + w);
        fp8Notice.filter(NOTICES_PRINTED::add).ifPresent(System.err::println);   // once per process, not once per rank
        Tensor scales = layout.fp8Scales();
        HostData.write(scales, new double[] {FP8_X_SCALE, FP8_W_SCALE, FP8_GRAD_SCALE});
        xScale = scales.view(0, 1);
        wScale = scales.view(1, 1);
        gradScale = scales.view(2, 1);

        staging = hostArena.allocate((long) Math.max(train.cuCapacity(), eval.cuCapacity()) * Integer.BYTES, 8);
        yarn = new Yarn(cfg, layout.freqs());
        initialize(seed);
    }

    /** The parameter table of the spec (§2) for {@code config} and {@code worldSize}, in state-dict order. */
    public static List<ParamSpec> specs(GptConfig cfg, int worldSize) {
        int C = cfg.modelDim(), V = cfg.vocabPadded(), HD = cfg.attnDim(), F = cfg.mlpHidden();
        List<ParamSpec> s = new ArrayList<>();
        s.add(new ParamSpec("smear_gate.weight", Shape.of(1, cfg.gateInputDims()), new Init.Zeros(), "smear_gate", 0.01, 0, DType.BF16));
        for (int j = 0; j < cfg.numValueEmbeds(); j++)
            s.add(new ParamSpec("value_embeds." + j + ".weight", Shape.of(V, C), new Init.Zeros(), "value_embed", 75, 1, DType.BF16));
        double bound = Math.sqrt(3) / Math.sqrt(C);
        for (int i = 0; i < cfg.numLayers(); i++) {
            if (cfg.hasAttention(i)) {
                s.add(new ParamSpec("blocks." + i + ".attn.qkvo_w", Shape.of(4L * HD, C), new Init.Uniform(cfg.qkvInitScale() * bound, 3L * HD), "attn", 1, 1, DType.F32));
                s.add(new ParamSpec("blocks." + i + ".attn.attn_gate.weight", Shape.of(cfg.numHeads(), cfg.gateInputDims()), new Init.Zeros(), "attn_gate", 1, 1, DType.BF16));
            }
            s.add(new ParamSpec("blocks." + i + ".mlp.c_fc", Shape.of(F, C), new Init.Uniform(0.5 * bound), "mlp", 1, 1, DType.F32));
            s.add(new ParamSpec("blocks." + i + ".mlp.c_proj", Shape.of(F, C), new Init.Zeros(), "mlp", 2, 1, DType.F32));
        }
        s.add(new ParamSpec("lm_head.weight", Shape.of(V, C), new Init.Normal(0.005), "lm_head", 1, 1, DType.BF16));
        // Overwritten by the untie step (a copy of lm_head) before it is used.
        s.add(new ParamSpec("embed.weight", Shape.of(V, C), new Init.Zeros(), "embed", 1, 1, DType.BF16));
        s.add(new ParamSpec("x0_lambdas", Shape.of(cfg.numLayers()), new Init.Zeros(), "x0_lambdas", 5, 0, DType.F32));
        s.add(new ParamSpec("scalars", Shape.of(cfg.numScalars() + paddingFor(cfg, worldSize)), new Init.Values(scalarValues(cfg, worldSize)), "scalars", 5, 0, DType.F32));
        return s;
    }

    private static boolean isGemmWeight(ParamSpec s) {
        return s.label().equals("attn") || s.label().equals("mlp") || s.label().equals("lm_head");
    }

    /** {@code (−numScalars) mod worldSize} padding entries of {@code scalars}. */
    public static int paddingFor(GptConfig cfg, int worldSize) { return Math.floorMod(-cfg.numScalars(), worldSize); }

    /** Initial {@code scalars}: resid λ 1.1, sa λ (0.5, 1.0), smear 0, backout 0.5, skip −1.5, padding ones. */
    public static double[] scalarValues(GptConfig cfg, int worldSize) {
        double[] v = new double[cfg.numScalars() + paddingFor(cfg, worldSize)];
        java.util.Arrays.fill(v, 1.0);
        for (int i = 0; i < cfg.numLayers(); i++) {
            v[cfg.residLambdaIndex(i)] = 1.1;
            v[cfg.saLambdaIndex(i, 0)] = 0.5;
            v[cfg.saLambdaIndex(i, 1)] = 1.0;
        }
        v[cfg.smearLambdaIndex()] = 0.0;
        v[cfg.backoutLambdaIndex()] = 0.5;
        v[cfg.skipLambdaIndex()] = -1.5;
        return v;
    }

    // ------------------------------------------------------------------ buffers

    /**
     * Every buffer of the model, in allocation order: per parameter its value, gradient and
     * (mixed precision) GEMM working copy, then the activations of {@link Activations} for
     * {@code maxTokens} rows, the backward's scratch, and a forward-only plan of
     * {@code evalTokens} rows where that is larger. Shapes and meanings are documented on the records.
     */
    private Layout layout(Slab.Take t, List<ParamSpec> specs, int evalTokens, int evalHeadRows) {
        List<Parameter> ps = new ArrayList<>();
        Map<Parameter, Tensor> work = new LinkedHashMap<>();
        for (ParamSpec s : specs) {
            Parameter p = new Parameter(s, t.take(precision.paramDType(s), s.shape().dims()), t.take(precision.gradDType(s), s.shape().dims()));
            ps.add(p);
            // GEMM weights (attention, MLP, head) not in the activation dtype get a working copy
            if (precision.paramDType(s) != dtype && isGemmWeight(s)) work.put(p, t.take(dtype, s.shape().dims()));
        }
        Tensor freqs = t.take(stat, D / 2);
        Plan tr = plan(t, maxTokens, false, maxTokens);
        long T = maxTokens;
        // the backward's scratch in one flat buffer, packed per micro-batch size so the buffers it zeroes are contiguous
        Activations.GradientSlab gr = new Activations.GradientSlab(
                t.take(dtype, Activations.GradientSlab.elements(maxTokens, dtype.byteSize(), C, H, D, F)), t.take(stat, 1), C, H, D, F);
        int headRows = evalHeadRows > 0 ? Math.min(evalHeadRows, evalTokens)
                : (int) Math.max(1, Math.min(evalTokens, EVAL_LOGITS_BYTES / ((long) V * dtype.byteSize())));
        Plan ev = evalTokens <= maxTokens ? tr : plan(t, evalTokens, true, headRows);
        // the FP8 head's three dequantisation factors (x, w, gradient), [3] F32
        return new Layout(ps, work, freqs, tr, ev, gr, t.take(DType.F32, 3));
    }

    /**
     * The activations of one plan for {@code tokens} rows. A training plan keeps every block's
     * buffers (the backward reads them); a forward-only plan gives all blocks the same buffers,
     * except the outputs the forward reads again later (the skip-in and backout layers').
     */
    private Plan plan(Slab.Take t, int tokens, boolean forwardOnly, int headRows) {
        long T = tokens;
        int cuCapacity = tokens + 129; // BOS-aligned batches pad cu_seqlens to a multiple of 128
        // training: two input sets, so the next micro-batch's upload (copy stream) overlaps this one's compute
        Inputs[] sets = new Inputs[forwardOnly ? 1 : 2];
        for (int k = 0; k < sets.length; k++) sets[k] = new Inputs(t.take(DType.I32, T), t.take(DType.I32, T), t.take(DType.I32, cuCapacity));
        Activations.InputSets in = new Activations.InputSets(sets);
        Embedding emb = new Embedding(t.take(dtype, T, C), t.take(stat, T), t.take(dtype, T, C), t.take(stat, T), t.take(dtype, T, C));
        Skip sk = new Skip(t.take(stat, 1), t.take(dtype, T, C));
        List<Block> bs = new ArrayList<>();
        Block shared = null;        // forward-only: the buffers every block uses
        Attention sharedAttn = null;
        for (int i = 0; i < L; i++) {
            Attention attn = null;
            if (cfg.hasAttention(i)) attn = forwardOnly && sharedAttn != null ? sharedAttn : attention(t, T);
            if (forwardOnly && attn != null) sharedAttn = attn;
            // the forward reads the skip-in and backout layers' outputs again later: those keep their own
            // (decided by index only: Slab runs this twice, the first time with null views)
            boolean keepOut = i == cfg.skipInLayer() || i == cfg.backoutLayer();
            if (!forwardOnly || shared == null) {
                Block b = new Block(t.take(dtype, T, C), attn, t.take(stat, T), t.take(dtype, T, C), t.take(dtype, T, F),
                        t.take(dtype, T, F), t.take(dtype, T, C));
                bs.add(b);
                if (forwardOnly) shared = keepOut ? new Block(b.in(), null, b.mlpRrms(), b.mlpNorm(), b.fc(), b.act(), t.take(dtype, T, C)) : b;
                continue;
            }
            bs.add(new Block(shared.in(), attn, shared.mlpRrms(), shared.mlpNorm(), shared.fc(), shared.act(),
                    keepOut ? t.take(dtype, T, C) : shared.out()));
        }
        long R = headRows;
        Head hd = new Head(t.take(dtype, T, C), t.take(stat, T), t.take(dtype, T, C), t.take(dtype, R, V), t.take(stat, R),
                t.take(stat, R), t.take(stat, 1));
        return new Plan(tokens, cuCapacity, headRows, in, emb, sk, List.copyOf(bs), hd);
    }

    /** One attention branch's buffers for T rows (shapes as documented on {@link Attention}). */
    private Attention attention(Slab.Take t, long T) {
        return new Attention(t.take(stat, T), t.take(dtype, T, C), t.take(dtype, T, C),
                t.take(dtype, T, H, D), t.take(dtype, T, H, D), t.take(stat, T, H), t.take(stat, T, H), t.take(dtype, T, H, D),
                t.take(dtype, T, H, D), t.take(dtype, T, H, D), t.take(stat, H, T), t.take(dtype, T, H, D), t.take(stat, T, H),
                t.take(dtype, T, H, D), t.take(dtype, T, H, D), t.take(dtype, T, C));
    }

    /** [T,H,D] as [T, H·D] (the GEMMs' view). */
    private static Tensor byToken(Tensor x) { return x.reshape(x.dim(0), x.numel() / x.dim(0)); }

    /** Any shape as one dimension (per-head statistics [T,H] as [T·H]). */
    private static Tensor flat(Tensor x) { return x.reshape(x.numel()); }

    private Tensor sc(int index) { return scalars.value().view(index, 1); }

    private Tensor scg(int index) { return scalars.grad().view(index, 1); }

    // ------------------------------------------------------------------ initialisation

    private void initialize(long seed) {
        SplittableRandom root = new SplittableRandom(seed);
        for (Parameter p : params) initialize(p, root.split());
    }

    private void initialize(Parameter p, SplittableRandom rng) {
        Tensor t = p.value();
        long n = t.numel(), cols = p.spec().cols();
        long chunkRows = Math.max(1, (1 << 20) / Math.max(1, cols));
        Tensor flat = t.reshape(n);
        switch (p.spec().init()) {
            case Init.Zeros z -> ops.fill(t, 0);
            case Init.Values vals -> {
                if (vals.values().length != n) throw new IllegalStateException(p.name() + ": " + vals.values().length + " initial values for " + n + " elements");
                HostData.write(t, vals.values());
            }
            case Init.Uniform u -> {
                long rows = u.rows() < 0 ? p.spec().rows() : u.rows();
                ops.fill(t, 0);
                for (long r = 0; r < rows; r += chunkRows) {
                    long r1 = Math.min(rows, r + chunkRows);
                    double[] vals = new double[Math.toIntExact((r1 - r) * cols)];
                    for (int i = 0; i < vals.length; i++) vals[i] = (2 * rng.nextDouble() - 1) * u.bound();
                    HostData.write(flat.view(r * cols, vals.length), vals);
                }
            }
            case Init.Normal nrm -> {
                long rows = p.spec().rows();
                for (long r = 0; r < rows; r += chunkRows) {
                    long r1 = Math.min(rows, r + chunkRows);
                    double[] vals = new double[Math.toIntExact((r1 - r) * cols)];
                    for (int i = 0; i < vals.length; i++) vals[i] = rng.nextGaussian() * nrm.std();
                    HostData.write(flat.view(r * cols, vals.length), vals);
                }
            }
        }
    }

    // ------------------------------------------------------------------ public API

    @Override public List<Parameter> parameters() { return Collections.unmodifiableList(params); }

    public GptConfig config() { return cfg; }

    public Ops ops() { return ops; }

    /** The activation dtype (parameters too, unless the precision is mixed). */
    public DType dtype() { return dtype; }

    public Precision precision() { return precision; }

    /**
     * Whether training runs the LM head in FP8 as the record (spec §2.5): mixed precision, the
     * {@link LmHeadFp8} switch on, and FP8 GEMMs on the backend ({@link Ops#fp8Unavailable}).
     * Evaluation always runs it in the activation dtype.
     */
    public boolean fp8Head() { return fp8Head; }

    /** The one-line notice printed when a mixed-precision model wanted FP8 but its backend has none, or empty. */
    public java.util.Optional<String> fp8Notice() { return fp8Notice; }

    public int maxTokens() { return maxTokens; }

    public int worldSize() { return worldSize; }

    public Yarn yarn() { return yarn; }

    /** Bytes of backend memory this model holds (constant after construction). */
    public long allocatedBytes() { return arena.allocatedBytes(); }

    /** Whether the input embedding is {@code embed.weight} (true) or the tied {@code lm_head.weight}. */
    public boolean splitEmbed() { return splitEmbed; }

    /** Switches the embedding lookup; {@code embed.weight} has a gradient only while split. */
    public void setSplitEmbed(boolean split) {
        this.splitEmbed = split;
        embed.setHasGrad(split);
    }

    /** Copies the values of {@code lm_head.weight} into {@code embed.weight} (the untie step). */
    public void copyHeadToEmbed() { ops.convert(embed.value(), lmHead.value()); }

    /**
     * Promises that no parameter value changed since the last forward, so the next forward may skip
     * refreshing the GEMM weights' working copies (mixed precision: one convert launch and a read of
     * every F32 GEMM weight per forward). Holds for that one forward only. A training step calls it
     * before each of its micro-batches after the first: the optimizer and the hooks change
     * parameters only between steps.
     */
    public void reuseWorkingCopies() { reuseWorking = true; }

    /**
     * Installs {@code l} (null: none) to be told, in every following backward until replaced, when
     * each parameter's gradient is final ({@link GradientListener}). The trainer sets it for the last
     * micro-batch of a step only: that backward finishes the step's gradients.
     */
    public void setGradientListener(GradientListener l) { gradientListener = l; }

    /** Tells the listener that {@code p}'s gradient is final in this backward (once per backward). */
    private void ready(Parameter p) {
        if (gradientListener == null) return;
        int j = paramIndex.get(p);
        if (announced[j]) throw new IllegalStateException("gradient of '" + p.name() + "' announced twice in one backward");
        announced[j] = true;
        gradientListener.ready(p);
    }

    /** The end of the backward: the gradients written last (embeddings, scalars, smear gate) and any unused ones. */
    private void readyRest() {
        if (gradientListener == null) return;
        for (int j = 0; j < params.size(); j++) if (!announced[j]) ready(params.get(j));
    }

    /** Whether layer i is the last writer (in the backward: the lowest attention layer) of its value embedding's gradient. */
    private boolean lastValueEmbedUse(int i) {
        int ve = cfg.valueEmbedOf(i);
        if (ve < 0 || !cfg.hasAttention(i)) return false;
        for (int j = 0; j < i; j++) if (cfg.hasAttention(j) && cfg.valueEmbedOf(j) == ve) return false;
        return true;
    }

    /** Zeros every gradient. */
    public void zeroGrads() { for (Parameter p : params) ops.fill(p.grad(), 0); }

    /** Zeros the gradients of the parameters {@code which} selects (e.g. by label). */
    public void zeroGrads(java.util.function.Predicate<Parameter> which) {
        for (Parameter p : params) if (which.test(p)) ops.fill(p.grad(), 0);
    }

    /**
     * One micro-batch of training: forward, loss, backward. Parameter gradients <b>accumulate</b>.
     *
     * @param tokens     [T] input tokens (T ≤ maxTokens)
     * @param targets    [T] targets
     * @param cuSeqlens  document boundaries: non-decreasing, first 0, last T (may be padded with T)
     * @param wsShort    short window in blocks
     * @param wsLong     long window in blocks (layers {@link GptConfig#longWindowLayers()})
     * @param loss       the loss, called on the head's buffers
     * @param mtpWeights this step's multi-token weights ({1} for next-token prediction)
     * @param gradScale  gradient scale, 1/grad_accum
     * @return {@code gradScale ·} the summed loss (what {@link LossFunction#trainStep} returns)
     */
    public double forwardBackward(int[] tokens, int[] targets, int[] cuSeqlens, int wsShort, int wsLong,
                                  LossFunction loss, double[] mtpWeights, double gradScale) {
        int T = upload(train, tokens, targets, cuSeqlens);
        if (mtpWeights == null || mtpWeights.length == 0) throw new IllegalArgumentException("mtpWeights must have at least one entry");
        forward(train, T, cuSeqlens.length, wsShort, wsLong);
        trainingHead(T);
        double value = loss.trainStep(lossBatch(train, 0, T, mtpWeights, true), gradScale);
        backward(T, cuSeqlens.length, wsShort, wsLong);
        inputsRead(train);
        return value;
    }

    /**
     * One micro-batch of training with the loss left on the device: as
     * {@link #forwardBackward(int[], int[], int[], int, int, LossFunction, double[], double)}, but
     * instead of returning the loss (a readback: the host waits for the whole forward) the summed
     * loss L of the micro-batch (not scaled by gradScale) is added to {@code lossSum}, a [1] tensor
     * of this backend in {@link Precision#statistics()} dtype, through
     * {@link LossFunction#trainStepOnDevice}. A step reads it back once after its micro-batches.
     */
    public void forwardBackward(int[] tokens, int[] targets, int[] cuSeqlens, int wsShort, int wsLong,
                                LossFunction loss, double[] mtpWeights, double gradScale, Tensor lossSum) {
        int T = upload(train, tokens, targets, cuSeqlens);
        if (mtpWeights == null || mtpWeights.length == 0) throw new IllegalArgumentException("mtpWeights must have at least one entry");
        forward(train, T, cuSeqlens.length, wsShort, wsLong);
        head(train, 0, T);
        loss.trainStepOnDevice(lossBatch(train, 0, T, mtpWeights, true), gradScale, lossSum);
        backward(T, cuSeqlens.length, wsShort, wsLong);
        inputsRead(train);
    }

    /**
     * Forward and the training loss value without the backward pass (no parameter gradient
     * touched); for finite-difference checks and loss probes. Arguments as in {@link #forwardBackward}.
     */
    public double trainingLoss(int[] tokens, int[] targets, int[] cuSeqlens, int wsShort, int wsLong,
                               LossFunction loss, double[] mtpWeights, double gradScale) {
        int T = upload(train, tokens, targets, cuSeqlens);
        forward(train, T, cuSeqlens.length, wsShort, wsLong);
        trainingHead(T);
        double value = loss.trainStep(lossBatch(train, 0, T, mtpWeights, true), gradScale);
        inputsRead(train);
        return value;
    }

    /**
     * Forward and mean loss (no gradients touched) of up to {@link #evalTokens()} tokens, through
     * the forward-only plan where the model has one: the LM head and the loss then run in row
     * chunks of at most {@link #evalHeadRows()} tokens, and the result is the mean over all T
     * tokens (Σ chunk mean · chunk rows / T). Arguments as in {@link #forwardBackward}.
     */
    public double evaluate(int[] tokens, int[] targets, int[] cuSeqlens, int wsShort, int wsLong, LossFunction loss) {
        int T = upload(eval, tokens, targets, cuSeqlens);
        forward(eval, T, cuSeqlens.length, wsShort, wsLong);
        double[] one = {1.0};
        int rows = eval.headRows();
        // one chunk: the loss's own mean, bit for bit what a one-plan model returns ((mean·T)/T may differ in the last bit)
        if (T <= rows) {
            head(eval, 0, T);
            double mean = loss.evaluate(lossBatch(eval, 0, T, one, false));
            inputsRead(eval);
            return mean;
        }
        double sum = 0;
        for (int r0 = 0; r0 < T; r0 += rows) {
            int r1 = Math.min(T, r0 + rows);
            head(eval, r0, r1);
            sum += loss.evaluate(lossBatch(eval, r0, r1, one, false)) * (r1 - r0);
        }
        inputsRead(eval);
        return sum / T;
    }

    /** The largest {@link #evaluate} forward, in tokens. */
    public int evalTokens() { return eval.tokens(); }

    /** Rows of logits the LM head computes at once in {@link #evaluate}. */
    public int evalHeadRows() { return eval.headRows(); }

    /**
     * [T,V] raw head outputs z: of the last training forward (gradients after a training step),
     * and of the last {@link #evaluate} where it ran as one chunk on the training plan
     * (T ≤ {@link #maxTokens()} with no separate evaluation plan).
     */
    public Tensor logits(int T) { return Activations.rows(train.head().logits(), T); }

    /**
     * The head's buffers for the loss over token rows [r0, r1) of the plan's micro-batch (the head
     * chunk holds them from its first row); in training dLogits aliases logits (consumed by the backward).
     */
    private LossBatch lossBatch(Plan plan, int r0, int r1, double[] mtpWeights, boolean train) {
        int n = r1 - r0;
        Head hd = plan.head().at(n);
        Inputs in = plan.inputs();
        return new LossBatch(ops, hd.logits(), train ? hd.logits() : null, in.tokens().slice(r0, r1), in.targets().slice(r0, r1),
                hd.rowLosses(), hd.targetWeights(), hd.total(), mtpWeights, cfg.softcap(), cfg.softcapDivisor());
    }

    private int upload(Plan plan, int[] tokens, int[] targets, int[] cu) {
        int T = tokens.length, cap = plan.cuCapacity();
        if (T < 1 || T > plan.tokens())
            throw new IllegalArgumentException((plan == train ? "micro-batch" : "evaluation forward") + " of " + T + " tokens; this model holds 1.."
                    + plan.tokens() + (plan == train ? "" : " (evalTokens)"));
        if (targets.length != T) throw new IllegalArgumentException(targets.length + " targets for " + T + " inputs");
        if (cu.length < 2 || cu.length > cap) throw new IllegalArgumentException("cu_seqlens has " + cu.length + " entries (2.." + cap + ")");
        if (cu[0] != 0 || cu[cu.length - 1] != T) throw new IllegalArgumentException("cu_seqlens must start at 0 and end at T=" + T);
        for (int i = 1; i < cu.length; i++) if (cu[i] < cu[i - 1]) throw new IllegalArgumentException("cu_seqlens decreases at entry " + i);
        int vs = cfg.vocabSize();
        for (int i = 0; i < T; i++) {
            if (tokens[i] < 0 || tokens[i] >= vs) throw new IllegalArgumentException("input token " + tokens[i] + " at " + i + " outside vocabulary 0.." + (vs - 1));
            if (targets[i] < 0 || targets[i] >= vs) throw new IllegalArgumentException("target " + targets[i] + " at " + i + " outside vocabulary 0.." + (vs - 1));
        }
        // the next input set: its copies wait for the work that read it last (the micro-batch before the previous), not for this one's
        Activations.InputSets sets = plan.inputSets();
        if (sets.uploads == null) sets.uploads = ops.backend().newUploadStream(sets.count());
        int k = sets.advance();
        sets.uploads.acquire(k);
        Inputs in = sets.current().at(T, cu.length);
        copyInts(sets.uploads, in.tokens(), tokens);
        copyInts(sets.uploads, in.targets(), targets);
        copyInts(sets.uploads, in.cuSeqlens(), cu);
        sets.uploads.publish(k);
        return T;
    }

    /** After queueing the last work that reads the plan's current inputs (backward, loss, evaluation): the set may be rewritten once that ran. */
    private void inputsRead(Plan plan) {
        Activations.InputSets sets = plan.inputSets();
        sets.uploads.release(sets.currentIndex());
    }

    /**
     * An input array to the device without a host wait: the upload stream takes the bytes at the
     * call (pinned staging on a GPU) and copies them on the copy stream into the set that
     * {@link #upload} acquired ({@link dev.speedrun.tensor.UploadStream}).
     */
    private void copyInts(dev.speedrun.tensor.UploadStream up, Tensor dst, int[] src) {
        MemorySegment.copy(src, 0, staging, ValueLayout.JAVA_INT, 0, src.length);
        up.copy(dst, staging);
    }

    // ------------------------------------------------------------------ forward

    private Tensor table() { return splitEmbed ? embed.value() : lmHead.value(); }

    private int window(int layer, int wsShort, int wsLong) {
        return (cfg.isLongWindow(layer) ? wsLong : wsShort) * cfg.blockSize();
    }

    /** The output of the block before block i (x0 before the first). */
    private static Tensor previousOut(List<Block> bs, int i, Embedding e) { return i == 0 ? e.x0() : bs.get(i - 1).out(); }

    /** What block i mixes with x0: the previous output, with the skip added in the skip-out layer. */
    private Tensor blockInput(List<Block> bs, int i, Embedding e, Skip sk) {
        return i == cfg.skipOutLayer() ? sk.merged() : previousOut(bs, i, e);
    }

    /** The tensor a GEMM reads for {@code p}: its working copy in the activation dtype, or its value. */
    private Tensor mm(Parameter p) {
        Tensor w = working.get(p);
        return w != null ? w : p.value();
    }

    /** Block {@code block} (0 q, 1 k, 2 v, 3 o) of layer i's stacked [4·HD, C] attention weight. */
    private Tensor w(int i, int block) { return mm(qkvo[i]).slice((long) block * HD, (long) (block + 1) * HD); }

    private Tensor dw(int i, int block) { return qkvo[i].grad().slice((long) block * HD, (long) (block + 1) * HD); }

    /** The forward of the plan's micro-batch of T tokens up to the LM head's input ({@code Head.norm}). */
    private void forward(Plan plan, int T, int nCu, int wsShort, int wsLong) {
        // the parameters may have changed since the last forward (optimizer step): refresh the working
        // copies, unless the caller said they did not (the later micro-batches of a step)
        if (!reuseWorking) for (var e : working.entrySet()) ops.convert(e.getValue(), e.getKey().value());
        reuseWorking = false;
        Inputs in = plan.inputs().at(T, nCu);
        Embedding e = plan.embedding().at(T);
        Skip sk = plan.skip().at(T);
        List<Block> bs = plan.blocks(T);
        // x0 = rmsNorm(smear(table[tokens]))
        ops.embedding(e.lookup(), table(), in.tokens());
        ops.smear(e.smeared(), e.smearGate(), e.lookup(), smearGate.value().reshape(G), sc(cfg.smearLambdaIndex()));
        ops.rmsNorm(e.x0(), e.x0Rrms(), e.smeared());
        ops.sigmoid(sk.gate(), sc(cfg.skipLambdaIndex()));
        for (int i = 0; i < L; i++) {
            Block b = bs.get(i);
            // merged = previous out + σ(skip_λ)·out of skip-in
            if (i == cfg.skipOutLayer())
                ops.mix(sk.merged(), previousOut(bs, i, e), null, 1, bs.get(cfg.skipInLayer()).out(), sk.gate(), 1);
            // in = resid_λ·(previous out or merged) + x0_λ·x0, and in one pass the norm that reads it:
            // the attention's norm = rmsNorm(in) with qkvIn = sa_λ0·norm, or in the layer without attention the MLP's
            Attention at = b.attn();
            ops.mixRmsNorm(b.in(), at != null ? at.norm() : b.mlpNorm(), at != null ? at.normRrms() : b.mlpRrms(),
                    at != null ? at.qkvIn() : null, blockInput(bs, i, e, sk), sc(cfg.residLambdaIndex(i)), 1, e.x0(),
                    x0Lambdas.value().view(i, 1), 1, at != null ? sc(cfg.saLambdaIndex(i, 0)) : null);
            // (with attention, attentionForward ends with mlpIn = attn.out and mlpNorm = rmsNorm(mlpIn))
            if (at != null) attentionForward(i, b, in, window(i, wsShort, wsLong));
            // out = mlpIn + relu²(mlpNorm·c_fcᵀ)·c_proj, mlpNorm = rmsNorm(mlpIn)
            Tensor mlpIn = b.mlpIn();
            ops.matmul(b.fc(), b.mlpNorm(), mm(cFc[i]), false, true, 1, 0);
            ops.reluSquared(b.act(), b.fc());
            ops.matmul(b.out(), b.act(), mm(cProj[i]), false, false, 1, 0);
            ops.add(b.out(), b.out(), mlpIn);
        }
        // norm = rmsNorm(last out − backout_λ·out of the backout layer)
        Head hd = plan.head();
        Tensor x = Activations.rows(hd.x(), T);
        ops.mixRmsNorm(x, Activations.rows(hd.norm(), T), Activations.rows(hd.rrms(), T), null, bs.get(L - 1).out(), null, 1,
                bs.get(cfg.backoutLayer()).out(), sc(cfg.backoutLambdaIndex()), -1, null);
    }

    /**
     * The record's FP8 scales (CastedLinear of lm_head: x_s = 100/448, w_s = 1.5/448, grad_s = 0.75/448):
     * each tensor is quantised as {@code fp8(t / s)} (448 is E4M3's largest value, so |x| ≤ 100 and
     * |w| ≤ 1.5 fit without saturating) and the GEMM multiplies by the two operands' s.
     */
    static final double FP8_X_SCALE = 100.0 / 448, FP8_W_SCALE = 1.5 / 448, FP8_GRAD_SCALE = 0.75 / 448;

    /** The FP8 fallback notices already printed by this process (the ranks of a run are models in one JVM). */
    private static final java.util.Set<String> NOTICES_PRINTED = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * The training forward's LM head over its T rows: {@code logits = norm·lm_headᵀ}, where
     * {@link #fp8Head()} as the record's {@code mm_op}: norm and lm_head quantised to E4M3
     * (scales x_s, w_s), their product through the FP8 GEMM into BF16 logits; otherwise {@link #head}.
     */
    private void trainingHead(int T) {
        if (!fp8Head) {
            head(train, 0, T);
            return;
        }
        Head hd = train.head();
        ops.matmulFp8(Activations.rows(hd.logits(), T), hd.norm().slice(0, T), DType.FP8_E4M3, xScale, mm(lmHead), DType.FP8_E4M3,
                wScale, false, true, 0);
    }

    /** Logits of token rows [r0, r1) of the last forward into the head chunk's first rows: {@code norm·lm_headᵀ}. */
    private void head(Plan plan, int r0, int r1) {
        Head hd = plan.head();
        ops.matmul(Activations.rows(hd.logits(), r1 - r0), hd.norm().slice(r0, r1), mm(lmHead), false, true, 1, 0);
    }

    /**
     * Writes block i's attention branch, {@code b.attn().out} = in + attention(in), and the MLP's
     * {@code b.mlpNorm} = rmsNorm(attn.out); {@code attn.norm} = rmsNorm(in) and
     * {@code attn.qkvIn} = sa_λ0·norm are already written (the block input's fused op).
     */
    private void attentionForward(int i, Block b, Inputs in, int window) {
        Attention a = b.attn();
        // qProj, kProj, v = qkvIn·W{q,k,v}ᵀ
        ops.matmul(byToken(a.qProj()), a.qkvIn(), w(i, 0), false, true, 1, 0);
        ops.matmul(byToken(a.kProj()), a.qkvIn(), w(i, 1), false, true, 1, 0);
        ops.matmul(byToken(a.v()), a.qkvIn(), w(i, 2), false, true, 1, 0);
        // q = rotary(rmsNorm(qProj)) per head; k = rotary(rmsNorm(kProj)) per head, key-shifted in long-window layers
        ops.rmsNormRotary(a.q(), flat(a.qRrms()), a.qProj(), yarn.freqs(), false);
        ops.rmsNormRotary(a.k(), flat(a.kRrms()), a.kProj(), yarn.freqs(), cfg.isLongWindow(i));
        // v += value embedding of the tokens
        int ve = cfg.valueEmbedOf(i);
        if (ve >= 0) ops.addEmbedding(byToken(a.v()), byToken(a.v()), valueEmbeds[ve].value(), in.tokens());
        // attended = attention(q, k, v); gated = σ(norm[:, :G]·attn_gate)·attended, and projIn = sa_λ1·gated in the same pass
        ops.attention(a.attended(), a.lse(), a.q(), a.k(), a.v(), in.cuSeqlens(), window, yarn.attnScale());
        ops.headGateScaled(a.gated(), a.gate(), a.projIn(), a.attended(), a.norm(), attnGate[i].value(), sc(cfg.saLambdaIndex(i, 1)));
        // out = in + projIn·Woᵀ
        ops.matmul(a.out(), byToken(a.projIn()), w(i, 3), false, true, 1, 0);
        // and mlpNorm = rmsNorm(out) in the same pass
        ops.mixRmsNorm(a.out(), b.mlpNorm(), b.mlpRrms(), null, a.out(), null, 1, b.in(), null, 1, null);
    }

    // ------------------------------------------------------------------ backward

    /** The forward in reverse; the loss has left ∂L/∂logits in the logits buffer. */
    private void backward(int T, int nCu, int wsShort, int wsLong) {
        java.util.Arrays.fill(announced, false);   // a new backward (also after one that failed half-way)
        Inputs in = train.inputs().at(T, nCu);
        Embedding e = train.embedding().at(T);
        Skip sk = train.skip().at(T);
        List<Block> bs = train.blocks(T);
        Head hd = train.head().at(T);
        Gradients d = grads.at(T);
        // logits = rmsNorm(x)·lm_headᵀ, x = last out − backout_λ·out of the backout layer
        Tensor dLogits = hd.logits();
        if (fp8Head) {
            // the record's mm_backward: dLogits quantised to E5M2 (grad_s); ∂norm = g·w with w the forward's
            // E4M3 weight (BF16 out); ∂lm_head += gᵀ·x with x the forward's E4M3 norm and the same E5M2 g (F32)
            ops.matmulFp8(d.headNorm(), dLogits, DType.FP8_E5M2, gradScale, mm(lmHead), DType.FP8_E4M3, wScale, false, false, 0);
            ops.matmulFp8(lmHead.grad(), dLogits, DType.FP8_E5M2, gradScale, hd.norm(), DType.FP8_E4M3, xScale, true, false, 1);
        } else {
            ops.matmul(d.headNorm(), dLogits, mm(lmHead), false, false, 1, 0);
            ops.matmul(lmHead.grad(), dLogits, hd.norm(), true, false, 1, 1);
        }
        if (splitEmbed) ready(lmHead);   // tied: the embedding backward adds to it last
        // one fill zeroes headX, stream, backout, x0, skip (and smeared, lookup for the end): they lie in one run
        ops.fill(d.entryZero(), 0);
        ops.rmsNormBackward(d.headX(), d.headNorm(), hd.x(), hd.rrms());
        Tensor dStream = d.stream(), dNext = d.streamNext();
        ops.mixBackward(dStream, d.backout(), null, scg(cfg.backoutLambdaIndex()), d.headX(), bs.get(L - 1).out(), null, 1,
                bs.get(cfg.backoutLayer()).out(), sc(cfg.backoutLambdaIndex()), -1);
        for (int i = L - 1; i >= 0; i--) {
            Block b = bs.get(i);
            // dStream = ∂/∂out of block i, with the backout and skip paths that leave from it
            if (i == cfg.backoutLayer()) ops.add(dStream, dStream, d.backout());
            if (i == cfg.skipInLayer()) ops.add(dStream, dStream, d.skip());
            // out = mlpIn + relu²(rmsNorm(mlpIn)·c_fcᵀ)·c_proj
            Tensor mlpIn = b.mlpIn();
            // one fill zeroes the layer's accumulated scratch (fc, the attention branch's) and dNext: one run
            ops.fill(d.layerZero(dNext), 0);
            ops.matmul(d.act(), dStream, mm(cProj[i]), false, true, 1, 0);
            ops.matmul(cProj[i].grad(), b.act(), dStream, true, false, 1, 1);
            ready(cProj[i]);
            ops.reluSquaredBackward(d.fc(), d.act(), b.fc());
            ops.matmul(cFc[i].grad(), d.fc(), b.mlpNorm(), true, false, 1, 1);
            ready(cFc[i]);
            ops.matmul(d.mlpNorm(), d.fc(), mm(cFc[i]), false, false, 1, 0);
            ops.rmsNormBackward(dStream, d.mlpNorm(), mlpIn, b.mlpRrms()); // dStream = ∂/∂mlpIn
            if (b.attn() != null) attentionBackward(i, b, in, d, dStream, window(i, wsShort, wsLong));   // dStream = ∂/∂in
            // in = resid_λ·(previous out or merged) + x0_λ·x0
            ops.mixBackward(dNext, d.x0(), scg(cfg.residLambdaIndex(i)), x0Lambdas.grad().view(i, 1), dStream,
                    blockInput(bs, i, e, sk), sc(cfg.residLambdaIndex(i)), 1, e.x0(), x0Lambdas.value().view(i, 1), 1);
            if (i == cfg.skipOutLayer()) {
                // merged = previous out + σ(skip_λ)·out of skip-in
                ops.fill(dStream, 0);
                ops.fill(d.skipGate(), 0);
                ops.mixBackward(dStream, d.skip(), null, d.skipGate(), dNext, previousOut(bs, i, e), null, 1,
                        bs.get(cfg.skipInLayer()).out(), sk.gate(), 1);
                ops.sigmoidBackward(scg(cfg.skipLambdaIndex()), d.skipGate(), sk.gate());
            } else {
                Tensor t = dStream; dStream = dNext; dNext = t;
            }
        }
        ready(x0Lambdas);   // each layer wrote its entry, layer 0 last
        // dStream = ∂/∂x0 through layer 0's residual input; d.x0 holds the x0_λ paths
        ops.add(d.x0(), d.x0(), dStream);
        // x0 = rmsNorm(smear(table[tokens]))
        ops.rmsNormBackward(d.smeared(), d.x0(), e.smeared(), e.x0Rrms());
        ops.smearBackward(d.lookup(), smearGate.grad().reshape(G), scg(cfg.smearLambdaIndex()), d.smeared(), e.lookup(),
                smearGate.value().reshape(G), sc(cfg.smearLambdaIndex()), e.smearGate());
        ops.embeddingBackward(splitEmbed ? embed.grad() : lmHead.grad(), d.lookup(), in.tokens());
        readyRest();
    }

    /**
     * Accumulates the attention branch's gradients; {@code dOut} = ∂/∂attn.out on entry, and the
     * branch's ∂/∂in is added to it (its residual part is already there).
     */
    private void attentionBackward(int i, Block b, Inputs in, Gradients d, Tensor dOut, int window) {
        Attention a = b.attn();
        // out = in + projIn·Woᵀ
        ops.matmul(byToken(d.projIn()), dOut, w(i, 3), false, false, 1, 0);
        ops.matmul(dw(i, 3), dOut, byToken(a.projIn()), true, false, 1, 1);
        // projIn = sa_λ1·gated (the layer's scratch was zeroed as the layer began: Gradients.layerZero)
        ops.mixBackward(byToken(d.gated()), null, scg(cfg.saLambdaIndex(i, 1)), null, byToken(d.projIn()), byToken(a.gated()),
                sc(cfg.saLambdaIndex(i, 1)), 1, null, null, 0);
        // gated = σ(norm[:, :G]·attn_gate)·attended
        ops.headGateBackward(d.attended(), d.attnNorm(), attnGate[i].grad(), d.gated(), a.attended(), a.norm(), attnGate[i].value(),
                a.gate());
        ready(attnGate[i]);
        // attended = attention(q, k, v)
        ops.attentionBackward(d.q(), d.k(), d.v(), d.attended(), a.q(), a.k(), a.v(), a.attended(), a.lse(), in.cuSeqlens(), window,
                yarn.attnScale());
        // v += value embedding of the tokens
        int ve = cfg.valueEmbedOf(i);
        if (ve >= 0) ops.embeddingBackward(valueEmbeds[ve].grad(), byToken(d.v()), in.tokens());
        if (lastValueEmbedUse(i)) ready(valueEmbeds[ve]);   // shared by several layers: the lowest writes last
        // k = rotary(rmsNorm(kProj)) per head, key-shifted in long-window layers; q = rotary(rmsNorm(qProj)) per head
        ops.rmsNormRotaryBackward(d.kProj(), d.k(), a.kProj(), flat(a.kRrms()), yarn.freqs(), cfg.isLongWindow(i));
        ops.rmsNormRotaryBackward(d.qProj(), d.q(), a.qProj(), flat(a.qRrms()), yarn.freqs(), false);
        // qProj, kProj, v = qkvIn·W{q,k,v}ᵀ
        ops.matmul(dw(i, 0), byToken(d.qProj()), a.qkvIn(), true, false, 1, 1);
        ops.matmul(dw(i, 1), byToken(d.kProj()), a.qkvIn(), true, false, 1, 1);
        ops.matmul(dw(i, 2), byToken(d.v()), a.qkvIn(), true, false, 1, 1);
        ready(qkvo[i]);
        ops.matmul(d.qkvIn(), byToken(d.qProj()), w(i, 0), false, false, 1, 0);
        ops.matmul(d.qkvIn(), byToken(d.kProj()), w(i, 1), false, false, 1, 1);
        ops.matmul(d.qkvIn(), byToken(d.v()), w(i, 2), false, false, 1, 1);
        // qkvIn = sa_λ0·rmsNorm(in)
        ops.mixBackward(d.attnNorm(), null, scg(cfg.saLambdaIndex(i, 0)), null, d.qkvIn(), a.norm(), sc(cfg.saLambdaIndex(i, 0)), 1,
                null, null, 0);
        ops.rmsNormBackward(dOut, d.attnNorm(), b.in(), a.normRrms());
    }

    @Override public void close() {
        arena.close();
        hostArena.close();
    }
}
