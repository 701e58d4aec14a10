package dev.speedrun.kernels.cuda;

import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.cuda.CudaDevice.Dim3;
import dev.speedrun.kernels.cuda.Kernel.MtpWeights;
import dev.speedrun.kernels.cuda.Kernel.Ptr;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;

/**
 * The op contract on a CUDA device: argument checks and launch shapes on the host, the math in
 * kernels/src/main/cuda. Tensors may be F32 or BF16 (per their dtype; the kernels convert on load
 * and store, math and accumulation are F32); saved statistics (rrms, lse, gates) and optimizer
 * norms are F32; token ids, targets and cu_seqlens are I32. Nothing here reads device memory
 * back: every op only queues work on the device's stream.
 */
public final class CudaOps implements Ops {
    /** Threads per block of the elementwise and row kernels. */
    static final int BLOCK = 256;
    /** Warps (rows, queries) per 256-thread block in the warp-per-row kernels. */
    static final int WARPS = BLOCK / 32;
    /** Cap on grid-stride grids: enough blocks to fill any current GPU several times. */
    static final int MAX_GRID = 65536;
    /** Head dimension limit of the attention kernels (ATT_MAXD in attention.cu). */
    static final int MAX_HEAD_DIM = 128;
    /** Scratch slots. */
    private static final int S_PARTIALS = 0, S_A = 1, S_B = 2, S_C = 3;

    private final CudaDevice device;

    public CudaOps(CudaDevice device) { this.device = device; }

    @Override public Backend backend() { return device.backend(); }

    public CudaDevice device() { return device; }

    // ------------------------------------------------------------------ argument helpers

    private Ptr ptr(Tensor t, String name) {
        if (!device.backend().equals(t.backend()))
            throw new IllegalArgumentException(name + " is on backend '" + t.backend().name() + "', not on this CUDA device");
        return new Ptr(t.address());
    }

    private Ptr ptrOrNull(Tensor t, String name) { return t == null ? Ptr.NULL : ptr(t, name); }

    /** Dtype code of the kernels (common.cuh): 0 = F32, 1 = BF16. */
    static int dt(Tensor t, String name) {
        return switch (t.dtype()) {
            case F32 -> 0;
            case BF16 -> 1;
            default -> throw new IllegalArgumentException(name + " is " + t.dtype() + "; the CUDA kernels take F32 or BF16");
        };
    }

    private static int dtOrZero(Tensor t, String name) { return t == null ? 0 : dt(t, name); }

    private static void requireDType(Tensor t, DType want, String name) {
        if (t.dtype() != want) throw new IllegalArgumentException(name + " must be " + want + ", got " + t.dtype());
    }

    private static void requireNumel(Tensor t, long n, String name) {
        if (t.numel() != n) throw new IllegalArgumentException(name + " has " + t.numel() + " elements, expected " + n + " (" + t.shape() + ")");
    }

    private static void requireRank(Tensor t, int rank, String name) {
        if (t.rank() != rank) throw new IllegalArgumentException(name + " must have rank " + rank + ", got " + t.shape());
    }

    private static int toInt(long v, String what) {
        if (v > Integer.MAX_VALUE) throw new IllegalArgumentException(what + " = " + v + " exceeds the kernels' int range");
        return (int) v;
    }

    /** Grid of a grid-stride loop over n items. */
    static int gridFor(long n) { return (int) Math.max(1, Math.min(MAX_GRID, (n + BLOCK - 1) / BLOCK)); }

    /** Grid of a warp-per-row kernel over n rows. */
    static int warpGrid(long n) { return toInt(Math.max(1, (n + WARPS - 1) / WARPS), "grid"); }

    private void elementwise(Kernel k, long n, Object... args) {
        if (n == 0) return;
        device.launch(k, Dim3.of(gridFor(n)), Dim3.of(BLOCK), 0, args);
    }

    // ------------------------------------------------------------------ elementwise helpers

    @Override public void fill(Tensor out, double value) {
        elementwise(Kernel.EW_FILL, out.numel(), ptr(out, "out"), dt(out, "out"), out.numel(), (float) value);
    }

    @Override public void convert(Tensor out, Tensor x) {
        requireNumel(x, out.numel(), "x");
        elementwise(Kernel.EW_CONVERT, out.numel(), ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"), out.numel());
    }

    @Override public void add(Tensor out, Tensor x, Tensor y) {
        long n = out.numel();
        requireNumel(x, n, "x");
        requireNumel(y, n, "y");
        elementwise(Kernel.EW_ADD, n, ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"), ptr(y, "y"), dt(y, "y"), n);
    }

    @Override public void mix(Tensor out, Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb) {
        long n = out.numel();
        requireNumel(x, n, "x");
        if (y != null) requireNumel(y, n, "y");
        if (a != null) requireNumel(a, 1, "a");
        if (b != null) requireNumel(b, 1, "b");
        elementwise(Kernel.EW_MIX, n, ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"),
                ptrOrNull(a, "a"), dtOrZero(a, "a"), (float) ca, ptrOrNull(y, "y"), dtOrZero(y, "y"),
                ptrOrNull(b, "b"), dtOrZero(b, "b"), (float) cb, n);
    }

    @Override public void mixBackward(Tensor dx, Tensor dy, Tensor da, Tensor db, Tensor dOut,
                                      Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb) {
        long n = dOut.numel();
        if (da != null && a == null) throw new IllegalArgumentException("mixBackward: da given but a is null");
        if (db != null && b == null) throw new IllegalArgumentException("mixBackward: db given but b is null");
        if ((dy != null || db != null) && y == null) throw new IllegalArgumentException("mixBackward: dy/db given but y is null");
        if (dx != null) scaledAcc(dx, dOut, a, ca, n, "dx");
        if (dy != null) scaledAcc(dy, dOut, b, cb, n, "dy");
        if (da != null) reduce(da, dOut, x, 2, ca, true);
        if (db != null) reduce(db, dOut, y, 2, cb, true);
    }

    private void scaledAcc(Tensor d, Tensor dOut, Tensor s, double c, long n, String name) {
        requireNumel(d, n, name);
        elementwise(Kernel.EW_SCALED_ACC, n, ptr(d, name), dt(d, name), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                ptrOrNull(s, "scalar"), dtOrZero(s, "scalar"), (float) c, n);
    }

    @Override public void sigmoid(Tensor out, Tensor x) {
        requireNumel(x, out.numel(), "x");
        elementwise(Kernel.EW_SIGMOID, out.numel(), ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"), out.numel());
    }

    @Override public void sigmoidBackward(Tensor dx, Tensor dOut, Tensor y) {
        long n = dx.numel();
        requireNumel(dOut, n, "dOut");
        requireNumel(y, n, "y");
        elementwise(Kernel.EW_SIGMOID_BACKWARD, n, ptr(dx, "dx"), dt(dx, "dx"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                ptr(y, "y"), dt(y, "y"), n);
    }

    @Override public void reluSquared(Tensor out, Tensor x) {
        requireNumel(x, out.numel(), "x");
        elementwise(Kernel.EW_RELU_SQUARED, out.numel(), ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"), out.numel());
    }

    @Override public void reluSquaredBackward(Tensor dx, Tensor dOut, Tensor x) {
        long n = dx.numel();
        requireNumel(dOut, n, "dOut");
        requireNumel(x, n, "x");
        elementwise(Kernel.EW_RELU_SQUARED_BACKWARD, n, ptr(dx, "dx"), dt(dx, "dx"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                ptr(x, "x"), dt(x, "x"), n);
    }

    @Override public void sum(Tensor out, Tensor x, boolean accumulate) { reduce(out, x, null, 0, 1, accumulate); }

    @Override public void sumSquares(Tensor out, Tensor x, boolean accumulate) { reduce(out, x, null, 1, 1, accumulate); }

    /** out[0] (+)= coef·Σ f(x, y), f by mode (0: x, 1: x², 2: x·y); deterministic two-pass reduction. */
    private void reduce(Tensor out, Tensor x, Tensor y, int mode, double coef, boolean accumulate) {
        requireNumel(out, 1, "out");
        long n = x.numel();
        if (y != null) requireNumel(y, n, "y");
        int parts = (int) Math.max(1, Math.min(256, (n + BLOCK - 1) / BLOCK));
        Tensor partials = device.scratch(S_PARTIALS, parts);
        device.launch(Kernel.RED_PARTIAL, Dim3.of(parts), Dim3.of(BLOCK), 0, ptr(partials, "partials"),
                ptr(x, "x"), dt(x, "x"), ptrOrNull(y, "y"), dtOrZero(y, "y"), n, mode);
        device.launch(Kernel.RED_FINISH, Dim3.of(1), Dim3.of(BLOCK), 0, ptr(out, "out"), dt(out, "out"),
                ptr(partials, "partials"), parts, (float) coef, accumulate ? 1 : 0);
    }

    @Override public void tokenMask(Tensor out, Tensor tokens, int value, double ifEqual, double otherwise) {
        requireDType(tokens, DType.I32, "tokens");
        requireNumel(tokens, out.numel(), "tokens");
        elementwise(Kernel.EW_TOKEN_MASK, out.numel(), ptr(out, "out"), dt(out, "out"), ptr(tokens, "tokens"), value,
                (float) ifEqual, (float) otherwise, out.numel());
    }

    // ------------------------------------------------------------------ GEMM

    @Override public void matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta) {
        GemmShape s = GemmShape.of(out, a, b, transA, transB);
        Gemm gemm = device.gemm();
        if (gemm != null && gemm.matmul(out, a, b, transA, transB, alpha, beta)) return;
        gemmKernel(out, a, b, transA, transB, alpha, beta, s);
    }

    /** The shared-memory tiled GEMM of gemm.cu (fallback and cross-check of cuBLASLt). */
    public void gemmKernel(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta) {
        gemmKernel(out, a, b, transA, transB, alpha, beta, GemmShape.of(out, a, b, transA, transB));
    }

    private void gemmKernel(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta,
                            GemmShape s) {
        if (s.m() == 0 || s.n() == 0 || s.batch() == 0) return;
        if (s.batch() > 65535) throw new IllegalArgumentException("matmul batch " + s.batch() + " exceeds 65535");
        int gx = toInt((s.n() + 15) / 16, "N/16"), gy = toInt((s.m() + 15) / 16, "M/16");
        if (gy > 65535) throw new IllegalArgumentException("matmul M = " + s.m() + " exceeds the fallback kernel's grid");
        device.launch(Kernel.GEMM_TILED, new Dim3(gx, gy, (int) s.batch()), Dim3.of(16, 16), 0,
                ptr(out, "out"), dt(out, "out"), ptr(a, "a"), dt(a, "a"), ptr(b, "b"), dt(b, "b"),
                toInt(s.m(), "M"), toInt(s.n(), "N"), toInt(s.k(), "K"), transA ? 1 : 0, transB ? 1 : 0,
                s.m() * s.k(), s.k() * s.n(), s.m() * s.n(), (float) alpha, (float) beta);
    }

    // ------------------------------------------------------------------ embedding

    @Override public void embedding(Tensor out, Tensor table, Tensor tokens) {
        requireDType(tokens, DType.I32, "tokens");
        int T = toInt(tokens.numel(), "T"), C = table.size(-1), V = table.size(0);
        requireNumel(out, (long) T * C, "out");
        elementwise(Kernel.EMBEDDING_FWD, (long) T * C, ptr(out, "out"), dt(out, "out"), ptr(table, "table"),
                dt(table, "table"), ptr(tokens, "tokens"), T, C, V);
    }

    @Override public void embeddingBackward(Tensor dTable, Tensor dOut, Tensor tokens) {
        requireDType(tokens, DType.I32, "tokens");
        int T = toInt(tokens.numel(), "T"), C = dTable.size(-1), V = dTable.size(0);
        requireNumel(dOut, (long) T * C, "dOut");
        elementwise(Kernel.EMBEDDING_BWD, (long) T * C, ptr(dTable, "dTable"), dt(dTable, "dTable"), ptr(dOut, "dOut"),
                dt(dOut, "dOut"), ptr(tokens, "tokens"), T, C, V);
    }

    // ------------------------------------------------------------------ normalisation

    @Override public void rmsNorm(Tensor out, Tensor rrms, Tensor x) {
        int C = x.size(-1);
        int R = toInt(x.numel() / C, "R");
        requireNumel(out, x.numel(), "out");
        requireNumel(rrms, R, "rrms");
        requireDType(rrms, DType.F32, "rrms");
        if (R == 0) return;
        device.launch(Kernel.RMS_NORM_FWD, Dim3.of(warpGrid(R)), Dim3.of(BLOCK), 0, ptr(out, "out"), dt(out, "out"),
                ptr(rrms, "rrms"), ptr(x, "x"), dt(x, "x"), R, C, (float) out.dtype().epsilon());
    }

    @Override public void rmsNormBackward(Tensor dx, Tensor dOut, Tensor x, Tensor rrms) {
        int C = x.size(-1);
        int R = toInt(x.numel() / C, "R");
        requireNumel(dx, x.numel(), "dx");
        requireNumel(dOut, x.numel(), "dOut");
        requireNumel(rrms, R, "rrms");
        requireDType(rrms, DType.F32, "rrms");
        if (R == 0) return;
        device.launch(Kernel.RMS_NORM_BWD, Dim3.of(warpGrid(R)), Dim3.of(BLOCK), 0, ptr(dx, "dx"), dt(dx, "dx"),
                ptr(dOut, "dOut"), dt(dOut, "dOut"), ptr(x, "x"), dt(x, "x"), ptr(rrms, "rrms"), R, C);
    }

    // ------------------------------------------------------------------ rotary and key shift

    @Override public void rotary(Tensor out, Tensor x, Tensor freqs) {
        rotaryLaunch(out, x, freqs, 1f, 0, "out", "x");
    }

    @Override public void rotaryBackward(Tensor dx, Tensor dOut, Tensor freqs) {
        rotaryLaunch(dx, dOut, freqs, -1f, 1, "dx", "dOut");
    }

    private void rotaryLaunch(Tensor out, Tensor x, Tensor freqs, float sign, int accumulate, String on, String xn) {
        requireRank(x, 3, xn);
        int T = x.size(0), H = x.size(1), D = x.size(2);
        if (D % 2 != 0) throw new IllegalArgumentException("rotary needs an even head dimension, got " + D);
        requireNumel(out, x.numel(), on);
        requireNumel(freqs, D / 2, "freqs");
        elementwise(Kernel.ROTARY, (long) T * H * (D / 2), ptr(out, on), dt(out, on), ptr(x, xn), dt(x, xn),
                ptr(freqs, "freqs"), dt(freqs, "freqs"), T, H, D, sign, accumulate);
    }

    @Override public void keyShift(Tensor out, Tensor x) {
        requireRank(x, 3, "x");
        requireNumel(out, x.numel(), "out");
        if (out.sameStorage(x) && out.byteOffset() == x.byteOffset()) throw new IllegalArgumentException("keyShift: out must not alias x");
        elementwise(Kernel.KEY_SHIFT, x.numel(), ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"),
                x.size(0), x.size(1), x.size(2));
    }

    @Override public void keyShiftBackward(Tensor dx, Tensor dOut) {
        requireRank(dOut, 3, "dOut");
        requireNumel(dx, dOut.numel(), "dx");
        elementwise(Kernel.KEY_SHIFT_BWD, dOut.numel(), ptr(dx, "dx"), dt(dx, "dx"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                dOut.size(0), dOut.size(1), dOut.size(2));
    }

    // ------------------------------------------------------------------ attention

    private record AttnDims(int T, int H, int D, int S) {}

    private AttnDims attnDims(Tensor q, Tensor k, Tensor v, Tensor lse, Tensor cu, int window) {
        requireRank(q, 3, "q");
        int T = q.size(0), H = q.size(1), D = q.size(2);
        if (D > MAX_HEAD_DIM) throw new IllegalArgumentException("attention head dimension " + D + " exceeds " + MAX_HEAD_DIM);
        requireNumel(k, q.numel(), "k");
        requireNumel(v, q.numel(), "v");
        requireNumel(lse, (long) H * T, "lse");
        requireDType(lse, DType.F32, "lse");
        requireDType(cu, DType.I32, "cuSeqlens");
        if (cu.numel() < 1) throw new IllegalArgumentException("cuSeqlens is empty");
        if (window < 0) throw new IllegalArgumentException("window must be ≥ 0, got " + window);
        return new AttnDims(T, H, D, toInt(cu.numel(), "S"));
    }

    @Override public void attention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, int window, double scale) {
        AttnDims d = attnDims(q, k, v, lse, cuSeqlens, window);
        requireNumel(out, q.numel(), "out");
        if (d.T == 0 || d.H == 0) return;
        device.launch(Kernel.ATTN_FWD, Dim3.of(warpGrid(d.T), d.H), Dim3.of(BLOCK), 0,
                ptr(out, "out"), dt(out, "out"), ptr(lse, "lse"), ptr(q, "q"), dt(q, "q"), ptr(k, "k"), dt(k, "k"),
                ptr(v, "v"), dt(v, "v"), ptr(cuSeqlens, "cuSeqlens"), d.S, d.T, d.H, d.D, window, (float) scale);
    }

    @Override public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
                                            Tensor out, Tensor lse, Tensor cuSeqlens, int window, double scale) {
        AttnDims d = attnDims(q, k, v, lse, cuSeqlens, window);
        for (Tensor t : new Tensor[] {dq, dk, dv, dOut, out}) requireNumel(t, q.numel(), "attention gradient/output");
        if (d.T == 0 || d.H == 0) return;
        Tensor delta = device.scratch(S_A, (long) d.H * d.T);
        device.launch(Kernel.ATTN_BWD_DELTA, Dim3.of(warpGrid((long) d.T * d.H)), Dim3.of(BLOCK), 0,
                ptr(delta, "delta"), ptr(dOut, "dOut"), dt(dOut, "dOut"), ptr(out, "out"), dt(out, "out"), d.T, d.H, d.D);
        device.launch(Kernel.ATTN_BWD_DQ, Dim3.of(warpGrid(d.T), d.H), Dim3.of(BLOCK), 0,
                ptr(dq, "dq"), dt(dq, "dq"), ptr(dOut, "dOut"), dt(dOut, "dOut"), ptr(q, "q"), dt(q, "q"),
                ptr(k, "k"), dt(k, "k"), ptr(v, "v"), dt(v, "v"), ptr(lse, "lse"), ptr(delta, "delta"),
                ptr(cuSeqlens, "cuSeqlens"), d.S, d.T, d.H, d.D, window, (float) scale);
        device.launch(Kernel.ATTN_BWD_DKV, Dim3.of(warpGrid(d.T), d.H), Dim3.of(BLOCK), 0,
                ptr(dk, "dk"), dt(dk, "dk"), ptr(dv, "dv"), dt(dv, "dv"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                ptr(q, "q"), dt(q, "q"), ptr(k, "k"), dt(k, "k"), ptr(v, "v"), dt(v, "v"), ptr(lse, "lse"),
                ptr(delta, "delta"), ptr(cuSeqlens, "cuSeqlens"), d.S, d.T, d.H, d.D, window, (float) scale);
    }

    // ------------------------------------------------------------------ gates

    @Override public void headGate(Tensor out, Tensor gate, Tensor y, Tensor x, Tensor w) {
        requireRank(y, 3, "y");
        requireRank(w, 2, "w");
        int T = y.size(0), H = y.size(1), D = y.size(2), C = x.size(-1), G = w.size(1);
        checkGate(x, w, gate, T, H, C, G);
        requireNumel(out, y.numel(), "out");
        elementwise(Kernel.HEAD_GATE_FWD, y.numel(), ptr(out, "out"), dt(out, "out"), ptr(gate, "gate"), ptr(y, "y"),
                dt(y, "y"), ptr(x, "x"), dt(x, "x"), ptr(w, "w"), dt(w, "w"), T, H, D, C, G);
    }

    private static void checkGate(Tensor x, Tensor w, Tensor gate, int T, int H, int C, int G) {
        if (w.size(0) != H) throw new IllegalArgumentException("w " + w.shape() + " needs " + H + " rows (heads)");
        if (G > C) throw new IllegalArgumentException("gate width " + G + " exceeds x's " + C + " columns");
        requireNumel(x, (long) T * C, "x");
        requireNumel(gate, (long) T * H, "gate");
        requireDType(gate, DType.F32, "gate");
    }

    @Override public void headGateBackward(Tensor dy, Tensor dx, Tensor dw, Tensor dOut, Tensor y, Tensor x, Tensor w, Tensor gate) {
        requireRank(y, 3, "y");
        int T = y.size(0), H = y.size(1), D = y.size(2), C = x.size(-1), G = w.size(1);
        checkGate(x, w, gate, T, H, C, G);
        requireNumel(dOut, y.numel(), "dOut");
        if (T == 0) return;
        Tensor gp = device.scratch(S_A, (long) T * H);
        device.launch(Kernel.HEAD_GATE_BWD_DY, Dim3.of(warpGrid((long) T * H)), Dim3.of(BLOCK), 0,
                ptrOrNull(dy, "dy"), dtOrZero(dy, "dy"), ptr(gp, "gp"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                ptr(y, "y"), dt(y, "y"), ptr(gate, "gate"), T, H, D);
        if (dx != null) {
            requireNumel(dx, x.numel(), "dx");
            elementwise(Kernel.HEAD_GATE_BWD_DX, (long) T * G, ptr(dx, "dx"), dt(dx, "dx"), ptr(gp, "gp"),
                    ptr(w, "w"), dt(w, "w"), T, H, C, G);
        }
        if (dw != null) {
            requireNumel(dw, w.numel(), "dw");
            device.launch(Kernel.HEAD_GATE_BWD_DW, Dim3.of(H * G), Dim3.of(BLOCK), 0, ptr(dw, "dw"), dt(dw, "dw"),
                    ptr(gp, "gp"), ptr(x, "x"), dt(x, "x"), T, H, C, G);
        }
    }

    @Override public void smear(Tensor out, Tensor gate, Tensor x, Tensor w, Tensor lambda) {
        requireRank(x, 2, "x");
        int T = x.size(0), C = x.size(1), G = toInt(w.numel(), "G");
        checkSmear(out, gate, w, lambda, x, T, C, G);
        elementwise(Kernel.SMEAR_FWD, x.numel(), ptr(out, "out"), dt(out, "out"), ptr(gate, "gate"), ptr(x, "x"),
                dt(x, "x"), ptr(w, "w"), dt(w, "w"), ptr(lambda, "lambda"), dt(lambda, "lambda"), T, C, G);
    }

    private static void checkSmear(Tensor out, Tensor gate, Tensor w, Tensor lambda, Tensor x, int T, int C, int G) {
        if (G > C) throw new IllegalArgumentException("smear gate width " + G + " exceeds x's " + C + " columns");
        requireNumel(out, x.numel(), "out/dOut");
        requireNumel(gate, T, "gate");
        requireDType(gate, DType.F32, "gate");
        requireNumel(lambda, 1, "lambda");
    }

    @Override public void smearBackward(Tensor dx, Tensor dw, Tensor dLambda, Tensor dOut, Tensor x, Tensor w, Tensor lambda, Tensor gate) {
        requireRank(x, 2, "x");
        int T = x.size(0), C = x.size(1), G = toInt(w.numel(), "G");
        checkSmear(dOut, gate, w, lambda, x, T, C, G);
        if (T == 0) return;
        Tensor dotp = device.scratch(S_A, T);
        device.launch(Kernel.SMEAR_BWD_DOT, Dim3.of(warpGrid(T)), Dim3.of(BLOCK), 0, ptr(dotp, "dotp"),
                ptr(dOut, "dOut"), dt(dOut, "dOut"), ptr(x, "x"), dt(x, "x"), T, C);
        if (dx != null) {
            requireNumel(dx, x.numel(), "dx");
            elementwise(Kernel.SMEAR_BWD_DX, x.numel(), ptr(dx, "dx"), dt(dx, "dx"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                    ptr(w, "w"), dt(w, "w"), ptr(lambda, "lambda"), dt(lambda, "lambda"), ptr(gate, "gate"),
                    ptr(dotp, "dotp"), T, C, G);
        }
        if (dw != null || dLambda != null) {
            if (dw != null) requireNumel(dw, G, "dw");
            if (dLambda != null) requireNumel(dLambda, 1, "dLambda");
            device.launch(Kernel.SMEAR_BWD_PARAMS, Dim3.of(G + 1), Dim3.of(BLOCK), 0, ptrOrNull(dw, "dw"),
                    dtOrZero(dw, "dw"), ptrOrNull(dLambda, "dLambda"), dtOrZero(dLambda, "dLambda"), ptr(x, "x"),
                    dt(x, "x"), ptr(lambda, "lambda"), dt(lambda, "lambda"), ptr(gate, "gate"), ptr(dotp, "dotp"), T, C, G);
        }
    }

    // ------------------------------------------------------------------ loss

    /** Threads per row of the cross-entropy kernel (vocabulary 50304: ~100 columns a thread). */
    static final int CE_BLOCK = 512;

    @Override public void softcapCrossEntropy(Tensor losses, Tensor dLogits, Tensor logits, Tensor targets, Tensor targetWeights,
                                              double[] weights, double cap, double divisor, double gradScale) {
        requireRank(logits, 2, "logits");
        int T = logits.size(0), V = logits.size(1);
        requireDType(targets, DType.I32, "targets");
        requireNumel(targets, T, "targets");
        requireNumel(losses, T, "losses");
        if (targetWeights != null) requireNumel(targetWeights, T, "targetWeights");
        if (dLogits != null) requireNumel(dLogits, logits.numel(), "dLogits");
        if (weights.length == 0 || weights.length > MtpWeights.MAX)
            throw new IllegalArgumentException("softcapCrossEntropy takes 1.." + MtpWeights.MAX + " multi-token weights, got " + weights.length);
        float[] w = new float[MtpWeights.MAX];
        for (int i = 0; i < weights.length; i++) w[i] = (float) weights[i];
        if (T == 0) return;
        device.launch(Kernel.SOFTCAP_CE, Dim3.of(T), Dim3.of(CE_BLOCK), 0, ptr(losses, "losses"), dt(losses, "losses"),
                ptrOrNull(dLogits, "dLogits"), dtOrZero(dLogits, "dLogits"), ptr(logits, "logits"), dt(logits, "logits"),
                ptr(targets, "targets"), ptrOrNull(targetWeights, "targetWeights"), dtOrZero(targetWeights, "targetWeights"),
                new MtpWeights(w), weights.length, T, V, (float) cap, (float) divisor, (float) gradScale);
    }

    // ------------------------------------------------------------------ optimizer kernels

    @Override public void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps,
                                   long step, double decay, DecayMask mask) {
        long n = p.numel();
        requireNumel(g, n, "g");
        requireNumel(m, n, "m");
        requireNumel(v, n, "v");
        if (step < 1) throw new IllegalArgumentException("adam step must be ≥ 1, got " + step);
        double stepScale = lr * Math.sqrt(1 - Math.pow(beta2, step)) / (1 - Math.pow(beta1, step));
        elementwise(Kernel.ADAM_STEP, n, ptr(p, "p"), dt(p, "p"), ptr(g, "g"), dt(g, "g"), ptr(m, "m"), dt(m, "m"),
                ptr(v, "v"), dt(v, "v"), n, (float) beta1, (float) beta2, (float) eps, (float) stepScale, (float) decay,
                mask.ordinal());
    }

    @Override public void muonMomentum(Tensor update, Tensor buf, Tensor g, double momentum) {
        long n = g.numel();
        requireNumel(update, n, "update");
        requireNumel(buf, n, "buf");
        elementwise(Kernel.MUON_MOMENTUM, n, ptr(update, "update"), dt(update, "update"), ptr(buf, "buf"), dt(buf, "buf"),
                ptr(g, "g"), dt(g, "g"), n, (float) momentum);
    }

    @Override public void frobeniusNormalize(Tensor out, Tensor x, double factor, double eps) {
        if (x.rank() != 2 && x.rank() != 3) throw new IllegalArgumentException("frobeniusNormalize takes [R,C] or [B,R,C], got " + x.shape());
        requireNumel(out, x.numel(), "out");
        int B = x.rank() == 3 ? x.size(0) : 1;
        long per = B == 0 ? 0 : x.numel() / B;
        if (B == 0 || per == 0) return;
        int parts = (int) Math.min(64, (per + BLOCK - 1) / BLOCK);
        Tensor partials = device.scratch(S_PARTIALS, (long) B * parts);
        device.launch(Kernel.FROB_PARTIAL, Dim3.of(parts, B), Dim3.of(BLOCK), 0, ptr(partials, "partials"),
                ptr(x, "x"), dt(x, "x"), per);
        device.launch(Kernel.FROB_SCALE, Dim3.of(gridFor(per), B), Dim3.of(BLOCK), 0, ptr(out, "out"), dt(out, "out"),
                ptr(x, "x"), dt(x, "x"), ptr(partials, "partials"), parts, per, (float) factor, (float) eps);
    }

    @Override public void varianceReduce(Tensor v, Tensor s2, double beta2) {
        if (v.rank() != 2 && v.rank() != 3) throw new IllegalArgumentException("varianceReduce takes [R,C] or [B,R,C], got " + v.shape());
        int B = v.rank() == 3 ? v.size(0) : 1, R = v.size(-2), C = v.size(-1);
        requireNumel(s2, (long) B * R, "s2");
        int rows = toInt((long) B * R, "B·R");
        if (rows == 0) return;
        Tensor mu = device.scratch(S_A, rows), rho = device.scratch(S_B, rows), scale = device.scratch(S_C, B);
        device.launch(Kernel.VR_ROWS, Dim3.of(rows), Dim3.of(BLOCK), 0, ptr(mu, "mu"), ptr(rho, "rho"), ptr(v, "v"),
                dt(v, "v"), ptr(s2, "s2"), dt(s2, "s2"), C, (float) beta2);
        device.launch(Kernel.VR_MATRIX, Dim3.of(B), Dim3.of(BLOCK), 0, ptr(scale, "scale"), ptr(mu, "mu"),
                ptr(rho, "rho"), R, C);
        device.launch(Kernel.VR_APPLY, Dim3.of(rows), Dim3.of(BLOCK), 0, ptr(v, "v"), dt(v, "v"), ptr(rho, "rho"),
                ptr(scale, "scale"), R, C);
    }

    @Override public void decayedUpdate(Tensor p, Tensor v, double lr, double decay, DecayMask mask) {
        long n = p.numel();
        requireNumel(v, n, "v");
        elementwise(Kernel.DECAYED_UPDATE, n, ptr(p, "p"), dt(p, "p"), ptr(v, "v"), dt(v, "v"), n, (float) lr,
                (float) decay, mask.ordinal());
    }

    // ------------------------------------------------------------------ GPU-only extras (FP8 LM head)

    /**
     * {@code out = saturate(x·scale)} in FP8 (E4M3 or E5M2 per out's dtype); scale is a [1] F32
     * device tensor, so a matmul on the result uses 1/scale as its cuBLASLt scale factor.
     */
    public void quantizeFp8(Tensor out, Tensor x, Tensor scale) {
        int fmt = switch (out.dtype()) {
            case FP8_E4M3 -> 0;
            case FP8_E5M2 -> 1;
            default -> throw new IllegalArgumentException("quantizeFp8: out must be FP8_E4M3 or FP8_E5M2, got " + out.dtype());
        };
        requireNumel(x, out.numel(), "x");
        requireNumel(scale, 1, "scale");
        requireDType(scale, DType.F32, "scale");
        elementwise(Kernel.EW_QUANTIZE_FP8, x.numel(), ptr(out, "out"), fmt, ptr(x, "x"), dt(x, "x"),
                ptr(scale, "scale"), x.numel());
    }

    /** {@code out[b] = x[b]ᵀ} for [R,C] or [B,R,C] F32/BF16 tensors (out [C,R] / [B,C,R]). */
    public void transpose(Tensor out, Tensor x) {
        if (x.rank() != 2 && x.rank() != 3) throw new IllegalArgumentException("transpose takes [R,C] or [B,R,C], got " + x.shape());
        requireNumel(out, x.numel(), "out");
        int B = x.rank() == 3 ? x.size(0) : 1;
        elementwise(Kernel.EW_TRANSPOSE, x.numel(), ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"),
                B, x.size(-2), x.size(-1));
    }
}
