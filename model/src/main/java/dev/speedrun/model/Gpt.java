package dev.speedrun.model;

import dev.speedrun.kernels.Ops;
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
import java.util.List;
import java.util.SplittableRandom;

/**
 * The record-178 GPT (spec §2) with explicit forward and backward passes written against
 * {@link Ops} only, so it runs on any backend. Parameters, gradients and activations live in one
 * arena allocated at construction for micro-batches of up to {@code maxTokens} tokens; a step
 * allocates no backend memory.
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
    private final int cuCapacity;
    private final int worldSize;
    private final MemoryArena arena;
    private final BufferPlan buf = new BufferPlan();
    private final List<Parameter> params = new ArrayList<>();
    private final Arena hostArena = Arena.ofShared();
    private final MemorySegment staging;
    private final Yarn yarn;
    private boolean splitEmbed;

    // sizes
    private final int L, C, H, D, HD, F, V, G;

    // parameters
    private final Parameter smearGate, lmHead, embed, x0Lambdas, scalars;
    private final Parameter[] valueEmbeds, qkvo, attnGate, cFc, cProj;
    /** GEMM weights whose dtype differs from the activations' -> their working copy (mixed precision). */
    private final java.util.Map<Parameter, Tensor> working = new java.util.LinkedHashMap<>();

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
     * other arguments as in {@link #Gpt(GptConfig, Ops, DType, int, int, long)}.
     */
    public Gpt(GptConfig config, Ops ops, Precision precision, int maxTokens, int worldSize, long seed) {
        this.cfg = config.validate();
        this.ops = ops;
        this.precision = precision;
        this.dtype = precision.activations();
        this.stat = precision.statistics();
        if (maxTokens < 1) throw new IllegalArgumentException("maxTokens must be ≥ 1: " + maxTokens);
        if (worldSize < 1) throw new IllegalArgumentException("worldSize must be ≥ 1: " + worldSize);
        this.maxTokens = maxTokens;
        this.cuCapacity = maxTokens + 129; // BOS-aligned batches pad cu_seqlens to a multiple of 128
        this.worldSize = worldSize;
        L = cfg.numLayers(); C = cfg.modelDim(); H = cfg.numHeads(); D = cfg.headDim(); HD = cfg.attnDim();
        F = cfg.mlpHidden(); V = cfg.vocabPadded(); G = cfg.gateInputDims();

        List<ParamSpec> specs = specs(cfg, worldSize);
        for (ParamSpec s : specs) {
            buf.add("p:" + s.name(), precision.paramDType(s), s.shape().dims());
            buf.add("g:" + s.name(), precision.gradDType(s), s.shape().dims());
            // GEMM weights (attention, MLP, head) not in the activation dtype get a working copy
            if (precision.paramDType(s) != dtype && isGemmWeight(s)) buf.add("w:" + s.name(), dtype, s.shape().dims());
        }
        planActivations();
        arena = ops.backend().newArena();
        buf.allocate(arena);
        for (ParamSpec s : specs) params.add(new Parameter(s, buf.get("p:" + s.name()), buf.get("g:" + s.name())));

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
        for (Parameter p : params) if (buf.has("w:" + p.name())) working.put(p, buf.get("w:" + p.name()));

        staging = hostArena.allocate((long) Math.max(maxTokens, cuCapacity) * Integer.BYTES, 8);
        yarn = new Yarn(cfg, buf.get("freqs"));
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

    private void planActivations() {
        long T = maxTokens;
        buf.add("tokens", DType.I32, T);
        buf.add("targets", DType.I32, T);
        buf.add("cu", DType.I32, cuCapacity);
        buf.add("freqs", stat, D / 2);
        buf.add("emb", dtype, T, C);
        buf.add("smeared", dtype, T, C);
        buf.add("smearGate", stat, T);
        buf.add("x0", dtype, T, C);
        buf.add("rrms0", stat, T);
        buf.add("sigSkip", stat, 1);
        buf.add("preSkip", dtype, T, C);
        for (int i = 0; i < L; i++) {
            String p = "l" + i + ".";
            buf.add(p + "h", dtype, T, C);
            if (cfg.hasAttention(i)) {
                buf.add(p + "n1", dtype, T, C);
                buf.add(p + "rrms1", stat, T);
                buf.add(p + "nA", dtype, T, C);
                buf.add(p + "qRaw", dtype, T, HD);
                buf.add(p + "kRaw", dtype, T, HD);
                buf.add(p + "q", dtype, T, HD);
                buf.add(p + "k", dtype, T, HD);
                buf.add(p + "v", dtype, T, HD);
                buf.add(p + "rrmsQ", stat, T * H);
                buf.add(p + "rrmsK", stat, T * H);
                buf.add(p + "y", dtype, T, HD);
                buf.add(p + "lse", stat, H * T);
                buf.add(p + "gate", stat, T * H);
                buf.add(p + "yg", dtype, T, HD);
                buf.add(p + "yb", dtype, T, HD);
                buf.add(p + "h2", dtype, T, C);
            }
            buf.add(p + "n2", dtype, T, C);
            buf.add(p + "rrms2", stat, T);
            buf.add(p + "f", dtype, T, F);
            buf.add(p + "g", dtype, T, F);
            buf.add(p + "out", dtype, T, C);
        }
        buf.add("kTmp", dtype, T, HD);
        buf.add("veTmp", dtype, T, HD);
        buf.add("xf", dtype, T, C);
        buf.add("nf", dtype, T, C);
        buf.add("rrmsf", stat, T);
        buf.add("logits", dtype, T, V);
        buf.add("rowLosses", stat, T);
        buf.add("targetWeights", stat, T);
        buf.add("total", stat, 1);
        // backward scratch
        for (String n : new String[] {"dA", "dB", "dx0", "dskip", "dxb", "dxf", "dnf", "dsm", "de", "dn1", "dn2", "dnA"})
            buf.add(n, dtype, T, C);
        for (String n : new String[] {"dyb", "dyg", "dy", "dq", "dk", "dv", "dt1", "dt2", "dqRaw", "dkRaw"})
            buf.add(n, dtype, T, HD);
        buf.add("dg", dtype, T, F);
        buf.add("df", dtype, T, F);
        buf.add("dsig", stat, 1);
    }

    /** A [T, cols] view of a [maxTokens, cols] (or flat) buffer. */
    private Tensor v(String name, int T, long... rest) {
        long[] dims = new long[rest.length + 1];
        dims[0] = T;
        System.arraycopy(rest, 0, dims, 1, rest.length);
        return buf.get(name).view(0, dims);
    }

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

    /** Zeros every gradient. */
    public void zeroGrads() { for (Parameter p : params) ops.fill(p.grad(), 0); }

    /** Zeros the gradients of the parameters {@code which} selects (e.g. by label). */
    public void zeroGrads(java.util.function.Predicate<Parameter> which) {
        for (Parameter p : params) if (which.test(p)) ops.fill(p.grad(), 0);
    }

    /**
     * One micro-batch of training: forward, loss, backward. Parameter gradients <b>accumulate</b>.
     *
     * @param inputs     [T] input tokens (T ≤ maxTokens)
     * @param targets    [T] targets
     * @param cuSeqlens  document boundaries: non-decreasing, first 0, last T (may be padded with T)
     * @param wsShort    short window in blocks
     * @param wsLong     long window in blocks (layers {@link GptConfig#longWindowLayers()})
     * @param loss       the loss (the trainer adapts the losses SPI)
     * @param mtpWeights this step's multi-token weights ({1} for next-token prediction)
     * @param gradScale  gradient scale, 1/grad_accum
     * @return {@code gradScale ·} the summed loss (what {@link ModelLoss#train} returns)
     */
    public double forwardBackward(int[] inputs, int[] targets, int[] cuSeqlens, int wsShort, int wsLong,
                                  ModelLoss loss, double[] mtpWeights, double gradScale) {
        int T = upload(inputs, targets, cuSeqlens);
        if (mtpWeights == null || mtpWeights.length == 0) throw new IllegalArgumentException("mtpWeights must have at least one entry");
        forward(T, cuSeqlens.length, wsShort, wsLong);
        double value = loss.train(lossBuffers(T, true), mtpWeights, gradScale);
        backward(T, cuSeqlens.length, wsShort, wsLong);
        return value;
    }

    /**
     * Forward and the training loss value without the backward pass (no parameter gradient
     * touched); for finite-difference checks and loss probes. Arguments as in {@link #forwardBackward}.
     */
    public double trainingLoss(int[] inputs, int[] targets, int[] cuSeqlens, int wsShort, int wsLong,
                               ModelLoss loss, double[] mtpWeights, double gradScale) {
        int T = upload(inputs, targets, cuSeqlens);
        forward(T, cuSeqlens.length, wsShort, wsLong);
        return loss.train(lossBuffers(T, true), mtpWeights, gradScale);
    }

    /** Forward and mean loss (no gradients touched); arguments as in {@link #forwardBackward}. */
    public double evaluate(int[] inputs, int[] targets, int[] cuSeqlens, int wsShort, int wsLong, ModelLoss loss) {
        int T = upload(inputs, targets, cuSeqlens);
        forward(T, cuSeqlens.length, wsShort, wsLong);
        return loss.evaluate(lossBuffers(T, false));
    }

    /** [T,V] raw head outputs z of the last {@link #evaluate} (gradients after a training step). */
    public Tensor logits(int T) { return v("logits", T, V); }

    private LossBuffers lossBuffers(int T, boolean train) {
        Tensor logits = v("logits", T, V);
        return new LossBuffers(ops, logits, train ? logits : null, v("tokens", T), v("targets", T), v("rowLosses", T),
                v("targetWeights", T), buf.get("total"), cfg.softcap(), cfg.softcapDivisor());
    }

    private int upload(int[] inputs, int[] targets, int[] cu) {
        int T = inputs.length;
        if (T < 1 || T > maxTokens) throw new IllegalArgumentException("micro-batch of " + T + " tokens; this model holds 1.." + maxTokens);
        if (targets.length != T) throw new IllegalArgumentException(targets.length + " targets for " + T + " inputs");
        if (cu.length < 2 || cu.length > cuCapacity) throw new IllegalArgumentException("cu_seqlens has " + cu.length + " entries (2.." + cuCapacity + ")");
        if (cu[0] != 0 || cu[cu.length - 1] != T) throw new IllegalArgumentException("cu_seqlens must start at 0 and end at T=" + T);
        for (int i = 1; i < cu.length; i++) if (cu[i] < cu[i - 1]) throw new IllegalArgumentException("cu_seqlens decreases at entry " + i);
        int vs = cfg.vocabSize();
        for (int i = 0; i < T; i++) {
            if (inputs[i] < 0 || inputs[i] >= vs) throw new IllegalArgumentException("input token " + inputs[i] + " at " + i + " outside vocabulary 0.." + (vs - 1));
            if (targets[i] < 0 || targets[i] >= vs) throw new IllegalArgumentException("target " + targets[i] + " at " + i + " outside vocabulary 0.." + (vs - 1));
        }
        copyInts(buf.get("tokens").view(0, T), inputs);
        copyInts(buf.get("targets").view(0, T), targets);
        copyInts(buf.get("cu").view(0, cu.length), cu);
        return T;
    }

    private void copyInts(Tensor dst, int[] src) {
        MemorySegment.copy(src, 0, staging, ValueLayout.JAVA_INT, 0, src.length);
        dst.backend().copyFromHost(dst, staging);
    }

    // ------------------------------------------------------------------ forward

    private Tensor table() { return splitEmbed ? embed.value() : lmHead.value(); }

    private int window(int layer, int wsShort, int wsLong) {
        return (cfg.isLongWindow(layer) ? wsLong : wsShort) * cfg.blockSize();
    }

    private Tensor prevOut(int i, int T) { return i == 0 ? v("x0", T, C) : v("l" + (i - 1) + ".out", T, C); }

    /** The input of layer i before the λ mix (after the skip add in the skip-out layer). */
    private Tensor pre(int i, int T) { return i == cfg.skipOutLayer() ? v("preSkip", T, C) : prevOut(i, T); }

    /** The tensor a GEMM reads for {@code p}: its working copy in the activation dtype, or its value. */
    private Tensor mm(Parameter p) {
        Tensor w = working.get(p);
        return w != null ? w : p.value();
    }

    private void forward(int T, int nCu, int wsShort, int wsLong) {
        // the parameters changed since the last forward (optimizer step): refresh the working copies
        for (var e : working.entrySet()) ops.convert(e.getValue(), e.getKey().value());
        Tensor tokens = v("tokens", T), cu = buf.get("cu").view(0, nCu);
        Tensor emb = v("emb", T, C), smeared = v("smeared", T, C), x0 = v("x0", T, C);
        ops.embedding(emb, table(), tokens);
        ops.smear(smeared, v("smearGate", T), emb, smearGate.value().reshape(G), sc(cfg.smearLambdaIndex()));
        ops.rmsNorm(x0, v("rrms0", T), smeared);
        Tensor sigSkip = buf.get("sigSkip");
        ops.sigmoid(sigSkip, sc(cfg.skipLambdaIndex()));
        for (int i = 0; i < L; i++) {
            String p = "l" + i + ".";
            if (i == cfg.skipOutLayer())
                ops.mix(v("preSkip", T, C), prevOut(i, T), null, 1, v("l" + cfg.skipInLayer() + ".out", T, C), sigSkip, 1);
            Tensor h = v(p + "h", T, C);
            ops.mix(h, pre(i, T), sc(cfg.residLambdaIndex(i)), 1, x0, x0Lambdas.value().view(i, 1), 1);
            Tensor h2 = h;
            if (cfg.hasAttention(i)) {
                h2 = v(p + "h2", T, C);
                attentionForward(i, T, h, h2, tokens, cu, window(i, wsShort, wsLong));
            }
            Tensor n2 = v(p + "n2", T, C), f = v(p + "f", T, F), g = v(p + "g", T, F), out = v(p + "out", T, C);
            ops.rmsNorm(n2, v(p + "rrms2", T), h2);
            ops.matmul(f, n2, mm(cFc[i]), false, true, 1, 0);
            ops.reluSquared(g, f);
            ops.matmul(out, g, mm(cProj[i]), false, false, 1, 0);
            ops.add(out, out, h2);
        }
        Tensor xf = v("xf", T, C), nf = v("nf", T, C);
        ops.mix(xf, v("l" + (L - 1) + ".out", T, C), null, 1, v("l" + cfg.backoutLayer() + ".out", T, C), sc(cfg.backoutLambdaIndex()), -1);
        ops.rmsNorm(nf, v("rrmsf", T), xf);
        ops.matmul(v("logits", T, V), nf, mm(lmHead), false, true, 1, 0);
    }

    private Tensor w(int i, int block) { return mm(qkvo[i]).slice((long) block * HD, (long) (block + 1) * HD); }

    private Tensor dw(int i, int block) { return qkvo[i].grad().slice((long) block * HD, (long) (block + 1) * HD); }

    private void attentionForward(int i, int T, Tensor h, Tensor h2, Tensor tokens, Tensor cu, int window) {
        String p = "l" + i + ".";
        Tensor n1 = v(p + "n1", T, C), nA = v(p + "nA", T, C);
        ops.rmsNorm(n1, v(p + "rrms1", T), h);
        ops.mix(nA, n1, sc(cfg.saLambdaIndex(i, 0)), 1, null, null, 0);
        Tensor qRaw = v(p + "qRaw", T, HD), kRaw = v(p + "kRaw", T, HD);
        Tensor q = v(p + "q", T, H, D), k = v(p + "k", T, H, D), vv = v(p + "v", T, HD);
        ops.matmul(qRaw, nA, w(i, 0), false, true, 1, 0);
        ops.matmul(kRaw, nA, w(i, 1), false, true, 1, 0);
        ops.matmul(vv, nA, w(i, 2), false, true, 1, 0);
        ops.rmsNorm(q.reshape((long) T * H, D), v(p + "rrmsQ", T * H), qRaw.reshape((long) T * H, D));
        ops.rotary(q, q, yarn.freqs());
        boolean shift = cfg.isLongWindow(i);
        Tensor kn = shift ? v("kTmp", T, H, D) : k;
        ops.rmsNorm(kn.reshape((long) T * H, D), v(p + "rrmsK", T * H), kRaw.reshape((long) T * H, D));
        ops.rotary(kn, kn, yarn.freqs());
        if (shift) ops.keyShift(k, kn);
        int ve = cfg.valueEmbedOf(i);
        if (ve >= 0) {
            Tensor veTmp = v("veTmp", T, HD);
            ops.embedding(veTmp, valueEmbeds[ve].value(), tokens);
            ops.add(vv, vv, veTmp);
        }
        Tensor y = v(p + "y", T, H, D), yg = v(p + "yg", T, H, D), yb = v(p + "yb", T, HD);
        ops.attention(y, buf.get(p + "lse").view(0, H, T), q, k, vv.reshape(T, H, D), cu, window, yarn.attnScale());
        ops.headGate(yg, v(p + "gate", T, H), y, n1, attnGate[i].value());
        ops.mix(yb, yg.reshape(T, HD), sc(cfg.saLambdaIndex(i, 1)), 1, null, null, 0);
        ops.matmul(h2, yb, w(i, 3), false, true, 1, 0);
        ops.add(h2, h2, h);
    }

    // ------------------------------------------------------------------ backward

    private void backward(int T, int nCu, int wsShort, int wsLong) {
        Tensor tokens = v("tokens", T), cu = buf.get("cu").view(0, nCu);
        Tensor dz = v("logits", T, V);
        Tensor xf = v("xf", T, C), nf = v("nf", T, C), dxf = v("dxf", T, C), dnf = v("dnf", T, C);
        ops.matmul(dnf, dz, mm(lmHead), false, false, 1, 0);
        ops.matmul(lmHead.grad(), dz, nf, true, false, 1, 1);
        ops.fill(dxf, 0);
        ops.rmsNormBackward(dxf, dnf, xf, v("rrmsf", T));
        Tensor dcur = v("dA", T, C), dnext = v("dB", T, C), dxb = v("dxb", T, C), dx0 = v("dx0", T, C), dskip = v("dskip", T, C);
        ops.fill(dcur, 0);
        ops.fill(dxb, 0);
        ops.fill(dx0, 0);
        ops.fill(dskip, 0);
        Tensor backoutL = sc(cfg.backoutLambdaIndex());
        ops.mixBackward(dcur, dxb, null, scg(cfg.backoutLambdaIndex()), dxf, v("l" + (L - 1) + ".out", T, C), null, 1,
                v("l" + cfg.backoutLayer() + ".out", T, C), backoutL, -1);
        Tensor x0 = v("x0", T, C);
        for (int i = L - 1; i >= 0; i--) {
            String p = "l" + i + ".";
            if (i == cfg.backoutLayer()) ops.add(dcur, dcur, dxb);
            if (i == cfg.skipInLayer()) ops.add(dcur, dcur, dskip);
            // MLP: out = h2 + relu²(norm(h2)·c_fcᵀ)·c_proj
            Tensor h = v(p + "h", T, C);
            Tensor h2 = cfg.hasAttention(i) ? v(p + "h2", T, C) : h;
            Tensor n2 = v(p + "n2", T, C), f = v(p + "f", T, F), g = v(p + "g", T, F);
            Tensor dg = v("dg", T, F), df = v("df", T, F), dn2 = v("dn2", T, C);
            ops.matmul(dg, dcur, mm(cProj[i]), false, true, 1, 0);
            ops.matmul(cProj[i].grad(), g, dcur, true, false, 1, 1);
            ops.fill(df, 0);
            ops.reluSquaredBackward(df, dg, f);
            ops.matmul(cFc[i].grad(), df, n2, true, false, 1, 1);
            ops.matmul(dn2, df, mm(cFc[i]), false, false, 1, 0);
            ops.rmsNormBackward(dcur, dn2, h2, v(p + "rrms2", T)); // dcur = ∂/∂h2
            if (cfg.hasAttention(i)) attentionBackward(i, T, h, dcur, tokens, cu, window(i, wsShort, wsLong));
            // h = resid_λ·pre + x0_λ·x0
            ops.fill(dnext, 0);
            ops.mixBackward(dnext, dx0, scg(cfg.residLambdaIndex(i)), x0Lambdas.grad().view(i, 1), dcur,
                    pre(i, T), sc(cfg.residLambdaIndex(i)), 1, x0, x0Lambdas.value().view(i, 1), 1);
            if (i == cfg.skipOutLayer()) {
                // pre = prev + σ(skip_λ)·skip
                Tensor dsig = buf.get("dsig"), sigSkip = buf.get("sigSkip");
                ops.fill(dcur, 0);
                ops.fill(dsig, 0);
                ops.mixBackward(dcur, dskip, null, dsig, dnext, prevOut(i, T), null, 1,
                        v("l" + cfg.skipInLayer() + ".out", T, C), sigSkip, 1);
                ops.sigmoidBackward(scg(cfg.skipLambdaIndex()), dsig, sigSkip);
            } else {
                Tensor t = dcur; dcur = dnext; dnext = t;
            }
        }
        // dcur = ∂/∂x0 through layer 0's residual input; dx0 holds the x0-λ paths
        ops.add(dx0, dx0, dcur);
        Tensor dsm = v("dsm", T, C), de = v("de", T, C);
        ops.fill(dsm, 0);
        ops.rmsNormBackward(dsm, dx0, v("smeared", T, C), v("rrms0", T));
        ops.fill(de, 0);
        ops.smearBackward(de, smearGate.grad().reshape(G), scg(cfg.smearLambdaIndex()), dsm, v("emb", T, C),
                smearGate.value().reshape(G), sc(cfg.smearLambdaIndex()), v("smearGate", T));
        ops.embeddingBackward(splitEmbed ? embed.grad() : lmHead.grad(), de, tokens);
    }

    /** Accumulates the attention branch's gradients; {@code dh} = ∂/∂h2 on entry, += the branch's ∂/∂h on exit. */
    private void attentionBackward(int i, int T, Tensor h, Tensor dh, Tensor tokens, Tensor cu, int window) {
        String p = "l" + i + ".";
        Tensor n1 = v(p + "n1", T, C), nA = v(p + "nA", T, C);
        Tensor yg = v(p + "yg", T, HD), yb = v(p + "yb", T, HD);
        Tensor dyb = v("dyb", T, HD), dyg = v("dyg", T, HD), dy = v("dy", T, H, D), dn1 = v("dn1", T, C), dnA = v("dnA", T, C);
        // out = yb · Woᵀ
        ops.matmul(dyb, dh, w(i, 3), false, false, 1, 0);
        ops.matmul(dw(i, 3), dh, yb, true, false, 1, 1);
        // yb = b · yg
        ops.fill(dyg, 0);
        ops.mixBackward(dyg, null, scg(cfg.saLambdaIndex(i, 1)), null, dyb, yg, sc(cfg.saLambdaIndex(i, 1)), 1, null, null, 0);
        // yg = gate(n1) · y
        ops.fill(dy, 0);
        ops.fill(dn1, 0);
        Tensor y = v(p + "y", T, H, D);
        ops.headGateBackward(dy, dn1, attnGate[i].grad(), dyg.reshape(T, H, D), y, n1, attnGate[i].value(), v(p + "gate", T, H));
        Tensor q = v(p + "q", T, H, D), k = v(p + "k", T, H, D), vv = v(p + "v", T, H, D);
        Tensor dq = v("dq", T, H, D), dk = v("dk", T, H, D), dv = v("dv", T, H, D);
        ops.fill(dq, 0);
        ops.fill(dk, 0);
        ops.fill(dv, 0);
        ops.attentionBackward(dq, dk, dv, dy, q, k, vv, y, buf.get(p + "lse").view(0, H, T), cu, window, yarn.attnScale());
        int ve = cfg.valueEmbedOf(i);
        if (ve >= 0) ops.embeddingBackward(valueEmbeds[ve].grad(), dv.reshape(T, HD), tokens);
        Tensor dt1 = v("dt1", T, H, D), dt2 = v("dt2", T, H, D);
        Tensor dkRot = dk;
        if (cfg.isLongWindow(i)) {
            ops.fill(dt1, 0);
            ops.keyShiftBackward(dt1, dk);
            dkRot = dt1;
        }
        Tensor dqRaw = v("dqRaw", T, HD), dkRaw = v("dkRaw", T, HD);
        ops.fill(dt2, 0);
        ops.rotaryBackward(dt2, dkRot, yarn.freqs());
        ops.fill(dkRaw, 0);
        ops.rmsNormBackward(dkRaw.reshape((long) T * H, D), dt2.reshape((long) T * H, D), v(p + "kRaw", T * H, D), v(p + "rrmsK", T * H));
        ops.fill(dt2, 0);
        ops.rotaryBackward(dt2, dq, yarn.freqs());
        ops.fill(dqRaw, 0);
        ops.rmsNormBackward(dqRaw.reshape((long) T * H, D), dt2.reshape((long) T * H, D), v(p + "qRaw", T * H, D), v(p + "rrmsQ", T * H));
        // [q|k|v] = nA · W[0:3HD]ᵀ
        Tensor dvf = dv.reshape(T, HD);
        ops.matmul(dw(i, 0), dqRaw, nA, true, false, 1, 1);
        ops.matmul(dw(i, 1), dkRaw, nA, true, false, 1, 1);
        ops.matmul(dw(i, 2), dvf, nA, true, false, 1, 1);
        ops.matmul(dnA, dqRaw, w(i, 0), false, false, 1, 0);
        ops.matmul(dnA, dkRaw, w(i, 1), false, false, 1, 1);
        ops.matmul(dnA, dvf, w(i, 2), false, false, 1, 1);
        // nA = a · n1; n1 = norm(h)
        ops.mixBackward(dn1, null, scg(cfg.saLambdaIndex(i, 0)), null, dnA, n1, sc(cfg.saLambdaIndex(i, 0)), 1, null, null, 0);
        ops.rmsNormBackward(dh, dn1, h, v(p + "rrms1", T));
    }

    @Override public void close() {
        arena.close();
        hostArena.close();
    }
}
