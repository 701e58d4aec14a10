package dev.speedrun.kernels.cuda;

import static dev.speedrun.kernels.cuda.GpuTestSupport.check;
import static dev.speedrun.kernels.cuda.GpuTestSupport.rtol;
import static dev.speedrun.tensor.DType.F32;

import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.cuda.GpuTestSupport.Pair;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every op of the contract on the GPU against the CPU backend on the same inputs, for F32 and BF16
 * activations (tolerances in {@link GpuTestSupport}). Skipped with the reason where there is no GPU.
 * Run with {@code ./mvnw -Pgpu -pl kernels -am test} or scripts/gpu-check.sh.
 */
@Tag("gpu")
@org.junit.jupiter.api.Timeout(value = 180, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
class CudaOpsGpuTest {
    static final int T = 203, C = 96, V = 517, G = 12;

    /** The device under test: the GPU here, the emulated device in {@link CudaOpsEmuTest}. */
    GpuTestSupport open(long seed) { return GpuTestSupport.open(seed); }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void elementwise(DType dt) {
        try (GpuTestSupport s = open(1)) {
            double r = rtol(dt, false);
            Pair x = s.input(dt, 1, T, C), y = s.input(dt, 1, T, C), a = s.input(F32, 1, 1), b = s.input(F32, 1, 1);
            Pair out = s.output(dt, T, C);
            s.both((o, g) -> o.fill(out.of(g), 0.375));
            check("fill", out, r);
            Pair conv = s.output(F32, T, C);
            s.both((o, g) -> o.convert(conv.of(g), x.of(g)));
            check("convert", conv, r);
            Pair add = s.output(dt, T, C);
            s.both((o, g) -> o.add(add.of(g), x.of(g), y.of(g)));
            check("add", add, r);
            Pair mix = s.output(dt, T, C);
            s.both((o, g) -> o.mix(mix.of(g), x.of(g), a.of(g), 0.5, y.of(g), b.of(g), -2));
            check("mix", mix, r);
            Pair mix1 = s.output(dt, T, C);
            s.both((o, g) -> o.mix(mix1.of(g), x.of(g), null, 1.5, null, null, 0));
            check("mix without y", mix1, r);
            Pair dx = s.input(dt, 1, T, C), dy = s.input(dt, 1, T, C), da = s.input(F32, 1, 1), db = s.input(F32, 1, 1);
            s.both((o, g) -> o.mixBackward(dx.of(g), dy.of(g), da.of(g), db.of(g), y.of(g), x.of(g), a.of(g), 0.5, y.of(g), b.of(g), -2));
            check("mixBackward dx", dx, r);
            check("mixBackward dy", dy, r);
            check("mixBackward da", da, rtol(dt, true));
            check("mixBackward db", db, rtol(dt, true));
            activation(s, dt, r, "sigmoid", x, y, Ops::sigmoid, Ops::sigmoidBackward, true);
            activation(s, dt, r, "reluSquared", x, y, Ops::reluSquared, Ops::reluSquaredBackward, false);
            Pair sum = s.output(F32, 1), sq = s.input(F32, 1, 1);
            s.both((o, g) -> o.sum(sum.of(g), x.of(g), false));
            check("sum", sum, rtol(dt, true));
            s.both((o, g) -> o.sumSquares(sq.of(g), x.of(g), true));
            check("sumSquares (accumulate)", sq, rtol(dt, true));
            Pair tok = s.ints(7, T), mask = s.output(dt, T);
            s.both((o, g) -> o.tokenMask(mask.of(g), tok.of(g), 3, 0, 1));
            check("tokenMask", mask, r);
        }
    }

    /** An activation {@code out = f(x)}: [T,C] out, x. */
    interface Activation { void run(Ops o, Tensor out, Tensor x); }

    /** Its backward {@code dx += f'·dOut}: [T,C] dx, dOut, and the saved [T,C] tensor f' reads. */
    interface ActivationBackward { void run(Ops o, Tensor dx, Tensor dOut, Tensor saved); }

    /**
     * Checks an activation and its backward (on a fresh random dx, so accumulation is checked
     * too); {@code readsOutput}: the backward takes f(x) (sigmoid) rather than x (reluSquared).
     */
    static void activation(GpuTestSupport s, DType dt, double r, String name, Pair x, Pair dOut,
                           Activation forward, ActivationBackward backward, boolean readsOutput) {
        Pair out = s.output(dt, T, C);
        s.both((o, g) -> forward.run(o, out.of(g), x.of(g)));
        check(name, out, r);
        Pair dx = s.input(dt, 1, T, C), saved = readsOutput ? out : x;
        s.both((o, g) -> backward.run(o, dx.of(g), dOut.of(g), saved.of(g)));
        check(name + "Backward", dx, r);
    }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void embeddingNormRotaryShift(DType dt) {
        try (GpuTestSupport s = open(2)) {
            double r = rtol(dt, false), rr = rtol(dt, true);
            Pair table = s.input(dt, 1, V, C), tokens = s.ints(V, T);
            Pair emb = s.output(dt, T, C);
            s.both((o, g) -> o.embedding(emb.of(g), table.of(g), tokens.of(g)));
            check("embedding", emb, r);
            Pair dTable = s.input(F32, 1, V, C), dOut = s.input(dt, 1, T, C);
            s.both((o, g) -> o.embeddingBackward(dTable.of(g), dOut.of(g), tokens.of(g)));
            check("embeddingBackward", dTable, rr);
            Pair x = s.input(dt, 3, T, C), out = s.output(dt, T, C), rrms = s.output(F32, T);
            s.both((o, g) -> o.rmsNorm(out.of(g), rrms.of(g), x.of(g)));
            check("rmsNorm", out, rr);
            check("rmsNorm rrms", rrms, rr);
            Pair dx = s.input(dt, 1, T, C);
            s.both((o, g) -> o.rmsNormBackward(dx.of(g), dOut.of(g), x.of(g), rrms.of(g)));
            check("rmsNormBackward", dx, rr);
            int H = 3, D = 128;
            Pair q = s.input(dt, 1, T, H, D), rot = s.output(dt, T, H, D);
            double[] f = new double[D / 2];
            for (int j = 0; j < f.length; j++) f[j] = Math.pow(1024, -j / (double) (D / 4)) * (j < D / 4 ? 1 : 0);
            Pair freqs = s.pair(F32, F32, f, D / 2);
            s.both((o, g) -> o.rotary(rot.of(g), q.of(g), freqs.of(g)));
            check("rotary", rot, r * 4);
            Pair drot = s.input(dt, 1, T, H, D);
            s.both((o, g) -> o.rotaryBackward(drot.of(g), q.of(g), freqs.of(g)));
            check("rotaryBackward", drot, r * 4);
            Pair ks = s.output(dt, T, H, D);
            s.both((o, g) -> o.keyShift(ks.of(g), q.of(g)));
            check("keyShift", ks, r);
            Pair dks = s.input(dt, 1, T, H, D);
            s.both((o, g) -> o.keyShiftBackward(dks.of(g), q.of(g)));
            check("keyShiftBackward", dks, r);
        }
    }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void attentionOverPackedDocuments(DType dt) {
        try (GpuTestSupport s = open(3)) {
            double rr = rtol(dt, true);
            int H = 2;
            int[] cu = {0, 17, 17, 90, 91, T, T};   // an empty document and a one-token document
            for (int D : new int[] {128, 40})
                for (int window : new int[] {0, 33, 1000}) {
                    String tag = "D=" + D + " window=" + window;
                    Pair q = s.input(dt, 1, T, H, D), k = s.input(dt, 1, T, H, D), v = s.input(dt, 1, T, H, D), cus = s.ints(cu);
                    Pair out = s.output(dt, T, H, D), lse = s.output(F32, H, T);
                    double scale = 0.12;
                    s.both((o, g) -> o.attention(out.of(g), lse.of(g), q.of(g), k.of(g), v.of(g), cus.of(g), window, scale));
                    check("attention " + tag, out, rr);
                    check("attention lse " + tag, lse, rr);
                    Pair dOut = s.input(dt, 1, T, H, D), dq = s.input(dt, 1, T, H, D), dk = s.input(dt, 1, T, H, D), dv = s.input(dt, 1, T, H, D);
                    // Both sides use the CPU's forward output so the backward is compared alone.
                    Pair o2 = s.pair(dt, F32, HostData.toDoubles(out.cpu()), T, H, D);
                    Pair l2 = s.pair(F32, F32, HostData.toDoubles(lse.cpu()), H, T);
                    s.both((o, g) -> o.attentionBackward(dq.of(g), dk.of(g), dv.of(g), dOut.of(g), q.of(g), k.of(g), v.of(g),
                            o2.of(g), l2.of(g), cus.of(g), window, scale));
                    check("attention dq " + tag, dq, rr);
                    check("attention dk " + tag, dk, rr);
                    check("attention dv " + tag, dv, rr);
                }
        }
    }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void gates(DType dt) {
        try (GpuTestSupport s = open(4)) {
            double r = rtol(dt, false), rr = rtol(dt, true);
            int H = 6, D = 32;
            Pair y = s.input(dt, 1, T, H, D), x = s.input(dt, 1, T, C), w = s.input(dt, 0.3, H, G);
            Pair out = s.output(dt, T, H, D), gate = s.output(F32, T, H);
            s.both((o, g) -> o.headGate(out.of(g), gate.of(g), y.of(g), x.of(g), w.of(g)));
            check("headGate", out, r * 2);
            check("headGate gate", gate, r * 2);
            Pair dy = s.input(dt, 1, T, H, D), dx = s.input(dt, 1, T, C), dw = s.input(F32, 1, H, G), dOut = s.input(dt, 1, T, H, D);
            s.both((o, g) -> o.headGateBackward(dy.of(g), dx.of(g), dw.of(g), dOut.of(g), y.of(g), x.of(g), w.of(g), gate.of(g)));
            check("headGateBackward dy", dy, r * 2);
            check("headGateBackward dx", dx, rr);
            check("headGateBackward dw", dw, rr);
            Pair sw = s.input(dt, 0.3, G), lam = s.input(F32, 1, 1), sout = s.output(dt, T, C), sgate = s.output(F32, T);
            s.both((o, g) -> o.smear(sout.of(g), sgate.of(g), x.of(g), sw.of(g), lam.of(g)));
            check("smear", sout, r * 2);
            check("smear gate", sgate, r * 2);
            Pair sdx = s.input(dt, 1, T, C), sdw = s.input(F32, 1, G), sdl = s.input(F32, 1, 1), sdOut = s.input(dt, 1, T, C);
            s.both((o, g) -> o.smearBackward(sdx.of(g), sdw.of(g), sdl.of(g), sdOut.of(g), x.of(g), sw.of(g), lam.of(g), sgate.of(g)));
            check("smearBackward dx", sdx, rr);
            check("smearBackward dw", sdw, rr);
            check("smearBackward dLambda", sdl, rr);
        }
    }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void softcapCrossEntropyWithMtpWeights(DType dt) {
        try (GpuTestSupport s = open(5)) {
            double rr = rtol(dt, true);
            Pair logits = s.input(dt, 4, T, V), targets = s.ints(V, T), tw = s.input(F32, 1, T);
            Pair losses = s.output(F32, T), dLogits = s.output(dt, T, V);
            double[] w = {1, 0.5, 0.25};
            s.both((o, g) -> o.softcapCrossEntropy(losses.of(g), dLogits.of(g), logits.of(g), targets.of(g), tw.of(g), w, 30, 7.5, 0.25));
            check("softcapCrossEntropy losses", losses, rr);
            check("softcapCrossEntropy dLogits", dLogits, rr);
            Pair losses1 = s.output(F32, T);
            s.both((o, g) -> o.softcapCrossEntropy(losses1.of(g), null, logits.of(g), targets.of(g), null, new double[] {1}, 30, 7.5, 1));
            check("softcapCrossEntropy next-token, no gradient", losses1, rr);
        }
    }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void optimizerKernels(DType state) {
        try (GpuTestSupport s = open(6)) {
            double r = rtol(state, false) * 10, rr = rtol(state, true);
            int n = 3000;
            Pair p = s.input(F32, 1, n), g = s.input(F32, 1, n);
            double[] mv = new double[n];
            for (int i = 0; i < n; i++) mv[i] = s.rnd.nextGaussian() * 0.1;
            Pair m = s.pair(state, state, mv, n);
            double[] vv = new double[n];
            for (int i = 0; i < n; i++) vv[i] = Math.abs(s.rnd.nextGaussian()) * 0.01;
            Pair v = s.pair(state, state, vv, n);   // moments in the same dtype on both sides
            s.both((o, gs) -> o.adamStep(p.of(gs), g.of(gs), m.of(gs), v.of(gs), 0.008, 0.65, 0.95, 1e-8, 5, 0.01, DecayMask.GT));
            check("adamStep p", p, r);
            check("adamStep m", m, r);
            check("adamStep v", v, r);
            Pair upd = s.output(F32, n), buf = s.input(F32, 1, n);
            s.both((o, gs) -> o.muonMomentum(upd.of(gs), buf.of(gs), g.of(gs), 0.95));
            check("muonMomentum update", upd, 1e-5);
            check("muonMomentum buf", buf, 1e-5);
            Pair mat = s.input(state, 1, 3, 48, 64), fro = s.output(state, 3, 48, 64);
            s.both((o, gs) -> o.frobeniusNormalize(fro.of(gs), mat.of(gs), 1.02, 1e-6));
            check("frobeniusNormalize", fro, rr);
            double[] s2v = new double[3 * 48];
            for (int i = 0; i < s2v.length; i++) s2v[i] = Math.abs(s.rnd.nextGaussian());
            Pair s2 = s.pair(F32, F32, s2v, 3, 48);
            s.both((o, gs) -> o.varianceReduce(mat.of(gs), s2.of(gs), 0.95));
            check("varianceReduce v", mat, rr);
            check("varianceReduce s2", s2, rr);
            Pair pd = s.input(F32, 1, n);
            s.both((o, gs) -> o.decayedUpdate(pd.of(gs), g.of(gs), 0.023, 0.001, DecayMask.GE));
            check("decayedUpdate", pd, 1e-5);
        }
    }

    /**
     * The BF16 parameter gradients and optimizer state of mixed precision (the record's dtypes,
     * docs/model.md): the embedding backward into a BF16 table with many repeated tokens (F32 row
     * sums rounded once, twice in a row so the accumulator's re-zeroing counts), the gates' BF16 dw,
     * and the optimizer kernels on BF16 parameters, gradients and state. The CPU side holds the
     * same BF16 tensors, so both apply the same roundings; tolerance: BF16 with reductions.
     */
    @org.junit.jupiter.api.Test
    void bf16ParameterGradientsAndState() {
        DType bf = DType.BF16;
        try (GpuTestSupport s = open(9)) {
            double rr = rtol(bf, true);
            Pair dTable = bf16Input(s, 1, V, C), dOut = s.input(bf, 1, T, C), few = s.ints(7, T);
            for (int call = 0; call < 2; call++) {
                s.both((o, g) -> o.embeddingBackward(dTable.of(g), dOut.of(g), few.of(g)));
                check("embeddingBackward into BF16, call " + call, dTable, rr);
            }
            int H = 6, D = 32;
            Pair y = s.input(bf, 1, T, H, D), x = s.input(bf, 1, T, C), w = s.input(bf, 0.3, H, G), gate = s.output(F32, T, H);
            Pair out = s.output(bf, T, H, D);
            s.both((o, g) -> o.headGate(out.of(g), gate.of(g), y.of(g), x.of(g), w.of(g)));
            Pair dy = s.input(bf, 1, T, H, D), dx = s.input(bf, 1, T, C), dw = bf16Input(s, 1, H, G), dOutG = s.input(bf, 1, T, H, D);
            s.both((o, g) -> o.headGateBackward(dy.of(g), dx.of(g), dw.of(g), dOutG.of(g), y.of(g), x.of(g), w.of(g), gate.of(g)));
            check("headGateBackward BF16 dw", dw, rr);
            Pair sw = s.input(bf, 0.3, G), lam = s.input(F32, 1, 1), sout = s.output(bf, T, C), sgate = s.output(F32, T);
            s.both((o, g) -> o.smear(sout.of(g), sgate.of(g), x.of(g), sw.of(g), lam.of(g)));
            Pair sdx = s.input(bf, 1, T, C), sdw = bf16Input(s, 1, G), sdl = s.input(F32, 1, 1);
            s.both((o, g) -> o.smearBackward(sdx.of(g), sdw.of(g), sdl.of(g), dOut.of(g), x.of(g), sw.of(g), lam.of(g), sgate.of(g)));
            check("smearBackward BF16 dw", sdw, rr);
            check("smearBackward dLambda", sdl, rr);
            int n = 3000;
            Pair p = bf16Input(s, 1, n), gr = bf16Input(s, 1, n), m = bf16Input(s, 0.1, n), v = bf16Abs(s, 0.01, n);
            s.both((o, g) -> o.adamStep(p.of(g), gr.of(g), m.of(g), v.of(g), 0.008, 0.65, 0.95, 1e-8, 5, 0.01, DecayMask.GT));
            check("adamStep BF16 p", p, rr);
            check("adamStep BF16 m", m, rr);
            check("adamStep BF16 v", v, rr);
            Pair upd = bf16Input(s, 1, n), buf = bf16Input(s, 1, n);
            s.both((o, g) -> o.muonMomentum(upd.of(g), buf.of(g), gr.of(g), 0.95));
            check("muonMomentum BF16 update", upd, rr);
            check("muonMomentum BF16 buf", buf, rr);
            Pair mat = bf16Input(s, 1, 1, 6, 12), s2 = bf16Abs(s, 1, 1, 6);   // an attn_gate [H, G] with its BF16 second moments
            s.both((o, g) -> o.varianceReduce(mat.of(g), s2.of(g), 0.95));
            check("varianceReduce BF16 v", mat, rr);
            check("varianceReduce BF16 s2", s2, rr);
            s.both((o, g) -> o.decayedUpdate(p.of(g), upd.of(g), 0.023, 0.001, DecayMask.GE));
            check("decayedUpdate BF16", p, rr);
        }
    }

    /** Gaussian values in BF16 on both sides (a BF16 parameter, gradient or state tensor). */
    private static Pair bf16Input(GpuTestSupport s, double scale, long... dims) {
        long k = 1;
        for (long d : dims) k *= d;
        double[] v = new double[(int) k];
        for (int i = 0; i < v.length; i++) v[i] = s.rnd.nextGaussian() * scale;
        return s.pair(DType.BF16, DType.BF16, v, dims);
    }

    /** As {@link #bf16Input} with absolute values (second moments). */
    private static Pair bf16Abs(GpuTestSupport s, double scale, long... dims) {
        long k = 1;
        for (long d : dims) k *= d;
        double[] v = new double[(int) k];
        for (int i = 0; i < v.length; i++) v[i] = Math.abs(s.rnd.nextGaussian()) * scale;
        return s.pair(DType.BF16, DType.BF16, v, dims);
    }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void matmulThroughCublasLtAndTheKernel(DType dt) {
        try (GpuTestSupport s = open(7)) {
            double rr = rtol(dt, true);
            int M = 70, N = 96, K = 200;
            CudaOps gpu = (CudaOps) s.gpu;
            for (boolean ta : new boolean[] {false, true})
                for (boolean tb : new boolean[] {false, true}) {
                    String tag = "transA=" + ta + " transB=" + tb;
                    Pair a = ta ? s.input(dt, 1, K, M) : s.input(dt, 1, M, K), b = tb ? s.input(dt, 1, N, K) : s.input(dt, 1, K, N);
                    Pair out = s.output(F32, M, N);
                    s.both((o, g) -> o.matmul(out.of(g), a.of(g), b.of(g), ta, tb, 1.5, 0));
                    check("matmul " + tag, out, rr);
                    Pair out2 = s.output(F32, M, N);
                    s.cpu.matmul(out2.cpu(), a.cpu(), b.cpu(), ta, tb, 1.5, 0);
                    gpu.matmulTiled(out2.gpu(), a.gpu(), b.gpu(), ta, tb, 1.5, 0);
                    check("kernel GEMM " + tag, out2, rr);
                }
            Pair a = s.input(dt, 1, 4, 33, 48), b = s.input(dt, 1, 4, 48, 40), out = s.input(dt, 1, 4, 33, 40);
            s.both((o, g) -> o.matmul(out.of(g), a.of(g), b.of(g), false, false, 1, 0.5));
            check("batched matmul with beta", out, rr * 2);
            CudaDevice dev = s.device();
            System.out.println("[gpu] " + (dev instanceof JCudaDevice j ? j.name() : dev.backend().name()) + " sm_" + dev.computeCapability()
                    + ", cuBLASLt: " + (dev.gemm() != null ? "yes" : "no" + (dev instanceof JCudaDevice j ? " (" + j.gemmProblem() + ")" : "")));
        }
    }

    @org.junit.jupiter.api.Test
    void fp8QuantisationIsBitIdenticalToTheCpu() {
        try (GpuTestSupport s = open(41)) { Fp8EmuTest.quantisationIsBitIdenticalToTheCpu(s); }
    }

    @org.junit.jupiter.api.Test
    void fp8LmHeadProductsMatchTheCpu() {
        try (GpuTestSupport s = open(42)) { Fp8EmuTest.lmHeadProductsMatchTheCpu(s); }
    }

    @org.junit.jupiter.api.Test
    void fp8LmHeadGemmOnSm89Plus() {
        try (GpuTestSupport s = open(8)) {
            CudaDevice dev = s.device();
            org.junit.jupiter.api.Assumptions.assumeTrue(dev.computeCapability() >= 89, "FP8 needs sm_89+, this GPU is sm_" + dev.computeCapability());
            org.junit.jupiter.api.Assumptions.assumeTrue(dev.gemm() instanceof CublasLtGemm,
                    "cuBLASLt is not loaded" + (dev instanceof JCudaDevice j ? ": " + j.gemmProblem() : ""));
            int M = 64, N = 128, K = 256;
            Pair x = s.input(DType.BF16, 1, M, K), w = s.input(DType.BF16, 0.05, N, K);
            Pair ref = s.output(F32, M, N);
            s.cpu.matmul(ref.cpu(), x.cpu(), w.cpu(), false, true, 1, 0);
            CudaOps gpu = (CudaOps) s.gpu;
            var xq = s.gpuArena.allocate(DType.FP8_E4M3, M, K);
            var wq = s.gpuArena.allocate(DType.FP8_E4M3, N, K);
            Pair one = s.pair(F32, F32, new double[] {1}, 1), wScale = s.pair(F32, F32, new double[] {0.05}, 1);
            gpu.quantizeFp8(xq, x.gpu(), one.gpu());
            gpu.quantizeFp8(wq, w.gpu(), wScale.gpu());   // w / 0.05, dequantised by the same factor
            org.junit.jupiter.api.Assertions.assertTrue(((CublasLtGemm) dev.gemm()).matmulFp8(ref.gpu(), xq, one.gpu(), wq, wScale.gpu(), 1, 0),
                    "cuBLASLt has no algorithm for the FP8 GEMM");
            double[] c = HostData.toDoubles(ref.cpu()), g = HostData.toDoubles(ref.gpu());
            double num = 0, den = 0;
            for (int i = 0; i < c.length; i++) {
                org.junit.jupiter.api.Assertions.assertTrue(Double.isFinite(g[i]), "FP8 GEMM wrote a non-finite value at " + i);
                num += (g[i] - c[i]) * (g[i] - c[i]);
                den += c[i] * c[i];
            }
            double rel = Math.sqrt(num / den);
            System.out.println("[gpu] FP8 E4M3 GEMM relative error " + rel);
            org.junit.jupiter.api.Assertions.assertTrue(rel < 0.08, "FP8 GEMM relative error " + rel + " (E4M3 keeps 3 mantissa bits)");
        }
    }

}
