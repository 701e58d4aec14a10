package dev.speedrun.kernels.cuda;

import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.OpContract;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.cuda.CudaDevice.Dim3;
import dev.speedrun.kernels.cuda.Kernel.Ptr;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Shape;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Optional;

/**
 * The op contract on a CUDA device: argument checks and launch shapes on the host, the math in
 * kernels/src/main/cuda, one .cu file per op family with each kernel named after the op it serves
 * ({@link Kernel}). Every op first runs the checks of {@link OpContract}, the ones the CPU backend
 * runs too, then this backend's own (F32/BF16 only, F32 statistics, kernel limits). Tensors may be
 * F32 or BF16 (per their dtype; the kernels convert on load and store, math and accumulation are
 * F32); saved statistics (rrms, lse, gates) and optimizer norms are F32; token ids, targets and
 * cu_seqlens are I32. Nothing here reads device memory back: every op only queues work on the
 * device's stream.
 */
public final class CudaOps implements Ops {
    /** Threads per block of the elementwise and row kernels. */
    static final int BLOCK = 256;
    /** Warps (rows, queries) per 256-thread block in the warp-per-row kernels. */
    static final int WARPS = BLOCK / 32;
    /** Cap on grid-stride grids: enough blocks to fill any current GPU several times. */
    static final int MAX_GRID = 65536;
    /** Elements a thread takes per step in the vectorised kernels (VEC in common.cuh: 16-byte accesses). */
    static final int VEC = 8;
    /** Blocks of the reductions' first pass: 8 resident 256-thread blocks on each of an H200's 132 SMs. */
    static final int FILL_BLOCKS = 132 * 8;
    /** Threads per block of the one-block-per-output reductions over T (head_gate_backward_dw:
     *  H·G blocks, smear_backward_params: G + 1): their grids are small, so each block is as wide as
     *  a block gets. */
    static final int REDUCE_BLOCK = 1024;
    /** Head dimension limit of the attention kernels (ATT_MAXD in attention.cu). */
    static final int MAX_HEAD_DIM = 128;
    /** Scratch slots. S_EMBED is the embedding backward's F32 accumulator, kept all zero between calls;
     *  S_FP8_A/S_FP8_B hold matmulFp8's quantised operands. */
    private static final int S_PARTIALS = 0, S_A = 1, S_B = 2, S_C = 3, S_EMBED = 4, S_FP8_A = 5, S_FP8_B = 6;

    /** Multi-token weights the loss kernel takes at most (MTP_MAX in loss.cu). */
    public static final int MTP_MAX = 8;

    private final CudaDevice device;
    /** The S_EMBED buffer last zeroed (the device hands out a new one when it grows). */
    private Tensor embedAcc;
    /**
     * The loss kernel's multi-token weights, [MTP_MAX] F32 in device memory of this instance's own
     * (not a shared scratch slot, so what {@link #mtpOnDevice} says stays true), and the values it
     * holds. The weights reach the kernel through this pointer rather than as a by-value argument:
     * they change every step (the MTP plugin interpolates them), and a launch whose parameters
     * stay the same can be replayed from a CUDA graph (docs/cuda.md, "CUDA graphs"). They are
     * uploaded (asynchronously, stream-ordered) only when they differ from the last upload.
     */
    private Tensor mtpWeights;
    private final float[] mtpOnDevice = new float[MTP_MAX], mtpCall = new float[MTP_MAX];
    private final MemorySegment mtpHost = Arena.ofAuto().allocate(4L * MTP_MAX, 16);

    public CudaOps(CudaDevice device) { this.device = device; }

    @Override public Backend backend() { return device.backend(); }

    public CudaDevice device() { return device; }

    // ------------------------------------------------------------------ argument helpers
    // The contract's checks (shapes, dtype classes) are OpContract's, shared with the CPU backend;
    // the ones here are this backend's own: device residency, F32/BF16 only, F32 statistics,
    // sizes that fit the kernels' int parameters.

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

    /** Saved statistics (rrms, lse, gates) and scale factors are typed {@code float*} in the kernels. */
    private static void requireF32(String op, String name, Tensor t) {
        if (t.dtype() != DType.F32)
            throw new IllegalArgumentException(op + ": " + name + " must be F32 (typed float* in the CUDA kernels), got " + t.dtype());
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

    /** A grid-stride kernel that takes {@link #VEC} elements per thread and step: a thread per vector. */
    private void vectorised(Kernel k, long n, Object... args) {
        if (n == 0) return;
        device.launch(k, Dim3.of(gridFor((n + VEC - 1) / VEC)), Dim3.of(BLOCK), 0, args);
    }

    // ------------------------------------------------------------------ elementwise

    @Override public void fill(Tensor out, double value) {
        OpContract.fill(out, value);
        vectorised(Kernel.FILL, out.numel(), ptr(out, "out"), dt(out, "out"), out.numel(), (float) value);
    }

    @Override public void convert(Tensor out, Tensor x) {
        OpContract.convert(out, x);
        vectorised(Kernel.CONVERT, out.numel(), ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"), out.numel());
    }

    @Override public void add(Tensor out, Tensor x, Tensor y) {
        OpContract.add(out, x, y);
        long n = out.numel();
        vectorised(Kernel.ADD, n, ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"), ptr(y, "y"), dt(y, "y"), n);
    }

    @Override public void mix(Tensor out, Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb) {
        OpContract.mix(out, x, a, y, b);
        long n = out.numel();
        vectorised(Kernel.MIX, n, ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"),
                ptrOrNull(a, "a"), dtOrZero(a, "a"), (float) ca, ptrOrNull(y, "y"), dtOrZero(y, "y"),
                ptrOrNull(b, "b"), dtOrZero(b, "b"), (float) cb, n);
    }

    @Override public void mixBackward(Tensor dx, Tensor dy, Tensor da, Tensor db, Tensor dOut,
                                      Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb) {
        OpContract.mixBackward(dx, dy, da, db, dOut, x, a, y, b);
        long n = dOut.numel();
        boolean sums = da != null || db != null;
        if (n == 0 && !sums) return;
        // one pass over dOut for dx, dy and the per-block sums of da and db, then one launch adding up
        // both (fused.cu): the grid and the orders of the sums are sum()'s, so da and db get its bits
        int parts = sums ? sumParts(n) : gridFor(n);
        Tensor partials = sums ? device.scratch(S_PARTIALS, 2L * parts) : null;
        device.launch(Kernel.MIX_BACKWARD_PARTIAL, Dim3.of(parts), Dim3.of(BLOCK), 0, ptrOrNull(partials, "partials"),
                ptrOrNull(dx, "dx"), dtOrZero(dx, "dx"), ptrOrNull(dy, "dy"), dtOrZero(dy, "dy"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                da != null ? ptr(x, "x") : Ptr.NULL, da != null ? dt(x, "x") : 0, ptrOrNull(a, "a"), dtOrZero(a, "a"), (float) ca,
                db != null ? ptr(y, "y") : Ptr.NULL, db != null ? dt(y, "y") : 0, ptrOrNull(b, "b"), dtOrZero(b, "b"), (float) cb,
                n, parts);
        if (sums) device.launch(Kernel.MIX_BACKWARD_FINISH, Dim3.of(1), Dim3.of(BLOCK), 0, ptrOrNull(da, "da"), dtOrZero(da, "da"),
                ptrOrNull(db, "db"), dtOrZero(db, "db"), ptr(partials, "partials"), parts, (float) ca, (float) cb);
    }

    @Override public void sigmoid(Tensor out, Tensor x) {
        OpContract.sigmoid(out, x);
        vectorised(Kernel.SIGMOID, out.numel(), ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"), out.numel());
    }

    @Override public void sigmoidBackward(Tensor dx, Tensor dOut, Tensor y) {
        OpContract.sigmoidBackward(dx, dOut, y);
        long n = dx.numel();
        vectorised(Kernel.SIGMOID_BACKWARD, n, ptr(dx, "dx"), dt(dx, "dx"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                ptr(y, "y"), dt(y, "y"), n);
    }

    @Override public void reluSquared(Tensor out, Tensor x) {
        OpContract.reluSquared(out, x);
        vectorised(Kernel.RELU_SQUARED, out.numel(), ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"), out.numel());
    }

    @Override public void reluSquaredBackward(Tensor dx, Tensor dOut, Tensor x) {
        OpContract.reluSquaredBackward(dx, dOut, x);
        long n = dx.numel();
        vectorised(Kernel.RELU_SQUARED_BACKWARD, n, ptr(dx, "dx"), dt(dx, "dx"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                ptr(x, "x"), dt(x, "x"), n);
    }

    @Override public void sum(Tensor out, Tensor x, boolean accumulate) {
        OpContract.sum(out, x);
        sum(out, x, null, 0, 1, accumulate);
    }

    @Override public void sumSquares(Tensor out, Tensor x, boolean accumulate) {
        OpContract.sumSquares(out, x);
        sum(out, x, null, 1, 1, accumulate);
    }

    /**
     * out[0] (+)= coef·Σ f(x, y), f by mode (0: x for sum, 1: x² for sumSquares, 2: x·y for the
     * da/db of mixBackward); deterministic two-pass reduction.
     */
    private void sum(Tensor out, Tensor x, Tensor y, int mode, double coef, boolean accumulate) {
        long n = x.numel();
        int parts = sumParts(n);
        Tensor partials = device.scratch(S_PARTIALS, parts);
        device.launch(Kernel.SUM_PARTIAL, Dim3.of(parts), Dim3.of(BLOCK), 0, ptr(partials, "partials"),
                ptr(x, "x"), dt(x, "x"), ptrOrNull(y, "y"), dtOrZero(y, "y"), n, mode);
        device.launch(Kernel.SUM_FINISH, Dim3.of(1), Dim3.of(BLOCK), 0, ptr(out, "out"), dt(out, "out"),
                ptr(partials, "partials"), parts, (float) coef, accumulate ? 1 : 0);
    }

    /** Blocks (and partial sums) of the first pass of a two-pass reduction over n elements. */
    private static int sumParts(long n) { return (int) Math.max(1, Math.min(FILL_BLOCKS, (n + (long) BLOCK * VEC - 1) / ((long) BLOCK * VEC))); }

    @Override public void tokenMask(Tensor out, Tensor tokens, int value, double ifEqual, double otherwise) {
        OpContract.tokenMask(out, tokens);
        elementwise(Kernel.TOKEN_MASK, out.numel(), ptr(out, "out"), dt(out, "out"), ptr(tokens, "tokens"), value,
                (float) ifEqual, (float) otherwise, out.numel());
    }

    // ------------------------------------------------------------------ gemm

    @Override public void matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta) {
        GemmShape s = GemmShape.of(out, a, b, transA, transB);
        Gemm gemm = device.gemm();
        if (gemm != null && gemm.matmul(out, a, b, transA, transB, alpha, beta)) return;
        matmulTiled(out, a, b, transA, transB, alpha, beta, s);
    }

    /** The shared-memory tiled GEMM of gemm.cu (fallback and cross-check of cuBLASLt). */
    public void matmulTiled(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta) {
        matmulTiled(out, a, b, transA, transB, alpha, beta, GemmShape.of(out, a, b, transA, transB));
    }

    private void matmulTiled(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta,
                             GemmShape s) {
        if (s.m() == 0 || s.n() == 0 || s.batch() == 0) return;
        if (s.batch() > 65535) throw new IllegalArgumentException("matmul batch " + s.batch() + " exceeds 65535");
        int gx = toInt((s.n() + 15) / 16, "N/16"), gy = toInt((s.m() + 15) / 16, "M/16");
        if (gy > 65535) throw new IllegalArgumentException("matmul M = " + s.m() + " exceeds the fallback kernel's grid");
        device.launch(Kernel.MATMUL_TILED, new Dim3(gx, gy, (int) s.batch()), Dim3.of(16, 16), 0,
                ptr(out, "out"), dt(out, "out"), ptr(a, "a"), dt(a, "a"), ptr(b, "b"), dt(b, "b"),
                toInt(s.m(), "M"), toInt(s.n(), "N"), toInt(s.k(), "K"), transA ? 1 : 0, transB ? 1 : 0,
                s.m() * s.k(), s.k() * s.n(), s.m() * s.n(), (float) alpha, (float) beta);
    }

    // ------------------------------------------------------------------ embedding

    @Override public void embedding(Tensor out, Tensor table, Tensor tokens) {
        OpContract.Embedding s = OpContract.embedding(out, table, tokens);
        vectorised(Kernel.EMBEDDING, (long) s.T() * s.C(), ptr(out, "out"), dt(out, "out"), ptr(table, "table"),
                dt(table, "table"), ptr(tokens, "tokens"), s.T(), s.C(), s.V());
    }

    /**
     * F32 table: F32 atomics straight into it. BF16 table (a BF16 parameter's gradient): the rows'
     * sums in an F32 accumulator first, then each touched element gets its sum rounded to BF16 and
     * added with one more rounding ({@code embedding_backward_apply}, which also re-zeroes the
     * accumulator), so repeated tokens add in F32 as in the record's BF16 embedding backward.
     */
    @Override public void embeddingBackward(Tensor dTable, Tensor dOut, Tensor tokens) {
        OpContract.Embedding s = OpContract.embeddingBackward(dTable, dOut, tokens);
        long n = (long) s.T() * s.C();
        if (dTable.dtype() != DType.BF16) {
            elementwise(Kernel.EMBEDDING_BACKWARD, n, ptr(dTable, "dTable"), dt(dTable, "dTable"),
                    ptr(dOut, "dOut"), dt(dOut, "dOut"), ptr(tokens, "tokens"), s.T(), s.C(), s.V());
            return;
        }
        Tensor acc = embeddingAccumulator((long) s.V() * s.C());
        elementwise(Kernel.EMBEDDING_BACKWARD, n, ptr(acc, "acc"), dt(acc, "acc"),
                ptr(dOut, "dOut"), dt(dOut, "dOut"), ptr(tokens, "tokens"), s.T(), s.C(), s.V());
        elementwise(Kernel.EMBEDDING_BACKWARD_APPLY, n, ptr(dTable, "dTable"), dt(dTable, "dTable"), ptr(acc, "acc"),
                ptr(tokens, "tokens"), s.T(), s.C(), s.V());
    }

    /** The F32 [≥ floats] accumulator of the BF16 embedding backward, all zero (zeroed once per new buffer). */
    private Tensor embeddingAccumulator(long floats) {
        Tensor t = device.scratch(S_EMBED, floats);
        if (t != embedAcc) {
            fill(t, 0);
            embedAcc = t;
        }
        return t;
    }

    // ------------------------------------------------------------------ norms

    @Override public void rmsNorm(Tensor out, Tensor rrms, Tensor x) {
        OpContract.Rows s = OpContract.rmsNorm(out, rrms, x);
        requireF32("rmsNorm", "rrms", rrms);
        if (s.R() == 0) return;
        device.launch(Kernel.RMS_NORM, Dim3.of(warpGrid(s.R())), Dim3.of(BLOCK), 0, ptr(out, "out"), dt(out, "out"),
                ptr(rrms, "rrms"), ptr(x, "x"), dt(x, "x"), s.R(), s.C(), (float) out.dtype().epsilon());
    }

    @Override public void rmsNormBackward(Tensor dx, Tensor dOut, Tensor x, Tensor rrms) {
        OpContract.Rows s = OpContract.rmsNormBackward(dx, dOut, x, rrms);
        requireF32("rmsNormBackward", "rrms", rrms);
        if (s.R() == 0) return;
        device.launch(Kernel.RMS_NORM_BACKWARD, Dim3.of(warpGrid(s.R())), Dim3.of(BLOCK), 0, ptr(dx, "dx"), dt(dx, "dx"),
                ptr(dOut, "dOut"), dt(dOut, "dOut"), ptr(x, "x"), dt(x, "x"), ptr(rrms, "rrms"), s.R(), s.C());
    }

    // ------------------------------------------------------------------ rotary

    @Override public void rotary(Tensor out, Tensor x, Tensor freqs) {
        rotary(OpContract.rotary(out, x, freqs), out, x, freqs, 1f, 0, "out", "x");
    }

    @Override public void rotaryBackward(Tensor dx, Tensor dOut, Tensor freqs) {
        rotary(OpContract.rotaryBackward(dx, dOut, freqs), dx, dOut, freqs, -1f, 1, "dx", "dOut");
    }

    /** The one rotary kernel: forward rotates by +θ and overwrites, backward by −θ and accumulates. */
    private void rotary(OpContract.Thd s, Tensor out, Tensor x, Tensor freqs, float sign, int accumulate, String on, String xn) {
        vectorised(Kernel.ROTARY, (long) s.T() * s.H() * (s.D() / 2), ptr(out, on), dt(out, on), ptr(x, xn), dt(x, xn),
                ptr(freqs, "freqs"), dt(freqs, "freqs"), s.T(), s.H(), s.D(), sign, accumulate);
    }

    @Override public void keyShift(Tensor out, Tensor x) {
        OpContract.Thd s = OpContract.keyShift(out, x);
        vectorised(Kernel.KEY_SHIFT, x.numel(), ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"), s.T(), s.H(), s.D());
    }

    @Override public void keyShiftBackward(Tensor dx, Tensor dOut) {
        OpContract.Thd s = OpContract.keyShiftBackward(dx, dOut);
        vectorised(Kernel.KEY_SHIFT_BACKWARD, dOut.numel(), ptr(dx, "dx"), dt(dx, "dx"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                s.T(), s.H(), s.D());
    }

    // ------------------------------------------------------------------ fused

    @Override public void mixRmsNorm(Tensor out, Tensor norm, Tensor rrms, Tensor scaled, Tensor x, Tensor a, double ca, Tensor y,
                                     Tensor b, double cb, Tensor sc) {
        OpContract.Rows s = OpContract.mixRmsNorm(out, norm, rrms, scaled, x, a, y, b, sc);
        requireF32("mixRmsNorm", "rrms", rrms);
        if (s.R() == 0) return;
        device.launch(Kernel.MIX_RMS_NORM, Dim3.of(warpGrid(s.R())), Dim3.of(BLOCK), 0, ptr(out, "out"), dt(out, "out"),
                ptr(norm, "norm"), dt(norm, "norm"), ptr(rrms, "rrms"), ptrOrNull(scaled, "scaled"), dtOrZero(scaled, "scaled"),
                ptrOrNull(sc, "s"), dtOrZero(sc, "s"), ptr(x, "x"), dt(x, "x"),
                ptrOrNull(a, "a"), dtOrZero(a, "a"), (float) ca, ptrOrNull(y, "y"), dtOrZero(y, "y"),
                ptrOrNull(b, "b"), dtOrZero(b, "b"), (float) cb, s.R(), s.C(), (float) norm.dtype().epsilon());
    }

    @Override public void rmsNormRotary(Tensor out, Tensor rrms, Tensor x, Tensor freqs, boolean keyShift) {
        OpContract.Thd s = OpContract.rmsNormRotary(out, rrms, x, freqs, keyShift);
        requireF32("rmsNormRotary", "rrms", rrms);
        long rows = (long) s.T() * s.H();
        if (rows == 0 || s.D() == 0) return;
        device.launch(Kernel.RMS_NORM_ROTARY, Dim3.of(warpGrid(rows)), Dim3.of(BLOCK), 0, ptr(out, "out"), dt(out, "out"),
                ptr(rrms, "rrms"), ptr(x, "x"), dt(x, "x"), ptr(freqs, "freqs"), dt(freqs, "freqs"), s.T(), s.H(), s.D(),
                (float) out.dtype().epsilon(), keyShift ? 1 : 0);
    }

    @Override public void headGateScaled(Tensor out, Tensor gate, Tensor scaled, Tensor y, Tensor x, Tensor w, Tensor sc) {
        OpContract.HeadGate s = OpContract.headGateScaled(out, gate, scaled, y, x, w, sc);
        requireF32("headGateScaled", "gate", gate);
        elementwise(Kernel.HEAD_GATE_SCALED, y.numel(), ptr(out, "out"), dt(out, "out"), ptr(gate, "gate"), ptr(scaled, "scaled"),
                dt(scaled, "scaled"), ptrOrNull(sc, "s"), dtOrZero(sc, "s"), ptr(y, "y"), dt(y, "y"), ptr(x, "x"), dt(x, "x"),
                ptr(w, "w"), dt(w, "w"), s.T(), s.H(), s.D(), s.C(), s.G());
    }

    @Override public void addEmbedding(Tensor out, Tensor x, Tensor table, Tensor tokens) {
        OpContract.Embedding s = OpContract.addEmbedding(out, x, table, tokens);
        elementwise(Kernel.ADD_EMBEDDING, (long) s.T() * s.C(), ptr(out, "out"), dt(out, "out"), ptr(x, "x"), dt(x, "x"),
                ptr(table, "table"), dt(table, "table"), ptr(tokens, "tokens"), s.T(), s.C(), s.V());
    }

    @Override public void rmsNormRotaryBackward(Tensor dx, Tensor dOut, Tensor x, Tensor rrms, Tensor freqs, boolean keyShift) {
        OpContract.Thd s = OpContract.rmsNormRotaryBackward(dx, dOut, x, rrms, freqs, keyShift);
        requireF32("rmsNormRotaryBackward", "rrms", rrms);
        long rows = (long) s.T() * s.H();
        if (rows == 0 || s.D() == 0) return;
        device.launch(Kernel.RMS_NORM_ROTARY_BACKWARD, Dim3.of(warpGrid(rows)), Dim3.of(BLOCK), 0, ptr(dx, "dx"), dt(dx, "dx"),
                ptr(dOut, "dOut"), dt(dOut, "dOut"), ptr(x, "x"), dt(x, "x"), ptr(rrms, "rrms"), ptr(freqs, "freqs"), dt(freqs, "freqs"),
                s.T(), s.H(), s.D(), keyShift ? 1 : 0);
    }

    // ------------------------------------------------------------------ attention

    /** Queries per block of the tensor-core forward and dq kernels, keys per block of dkv (AT_BM, AT_BN). */
    static final int ATT_MMA_TILE = 64;
    /** Threads per block of the tensor-core attention kernels (AT_THREADS: 4 warps of 16 rows). */
    static final int ATT_MMA_THREADS = 128;

    /** This backend's limits beyond the contract: D ≤ {@link #MAX_HEAD_DIM}, lse F32. */
    private static void attentionLimits(String op, OpContract.Thd s, Tensor lse) {
        if (s.D() > MAX_HEAD_DIM)
            throw new IllegalArgumentException(op + ": head dim D = " + s.D() + " exceeds the CUDA kernels' limit of " + MAX_HEAD_DIM);
        requireF32(op, "lse", lse);
    }

    /**
     * Whether attention runs on the tensor-core kernels ({@code attention_mma}, {@code _dq_mma},
     * {@code _dkv_mma}): q, k and v BF16 (they are mma operands as they are, the mixed-precision
     * path), D a multiple of 8 and every tensor the kernels read in 16-byte rows ({@code tiled})
     * 16-byte aligned. Otherwise (F32 precision, odd head dims, unaligned views) the scalar F32
     * kernels run, which take any F32/BF16 mix.
     */
    static boolean attentionOnTensorCores(int D, Tensor q, Tensor k, Tensor v, Tensor... tiled) {
        if (q.dtype() != DType.BF16 || k.dtype() != DType.BF16 || v.dtype() != DType.BF16 || D % 8 != 0) return false;
        if (q.address() % 16 != 0 || k.address() % 16 != 0 || v.address() % 16 != 0) return false;
        for (Tensor t : tiled) if (t.address() % 16 != 0) return false;
        return true;
    }

    @Override public void attention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, int window, double scale) {
        OpContract.Thd s = OpContract.attention(out, lse, q, k, v, cuSeqlens, window);
        attentionLimits("attention", s, lse);
        if (s.T() == 0 || s.H() == 0) return;
        int S = toInt(cuSeqlens.numel(), "S");
        boolean mma = attentionOnTensorCores(s.D(), q, k, v);
        device.launch(mma ? Kernel.ATTENTION_MMA : Kernel.ATTENTION,
                mma ? Dim3.of(tiles(s.T()), s.H()) : Dim3.of(warpGrid(s.T()), s.H()), Dim3.of(mma ? ATT_MMA_THREADS : BLOCK), 0,
                ptr(out, "out"), dt(out, "out"), ptr(lse, "lse"), ptr(q, "q"), dt(q, "q"), ptr(k, "k"), dt(k, "k"),
                ptr(v, "v"), dt(v, "v"), ptr(cuSeqlens, "cuSeqlens"), S, s.T(), s.H(), s.D(), window, (float) scale);
    }

    @Override public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
                                            Tensor out, Tensor lse, Tensor cuSeqlens, int window, double scale) {
        OpContract.Thd s = OpContract.attentionBackward(dq, dk, dv, dOut, q, k, v, out, lse, cuSeqlens, window);
        attentionLimits("attentionBackward", s, lse);
        if (s.T() == 0 || s.H() == 0) return;
        int S = toInt(cuSeqlens.numel(), "S"), T = s.T(), H = s.H(), D = s.D();
        Tensor delta = device.scratch(S_A, (long) H * T);
        device.launch(Kernel.ATTENTION_BACKWARD_DELTA, Dim3.of(warpGrid((long) T * H)), Dim3.of(BLOCK), 0,
                ptr(delta, "delta"), ptr(dOut, "dOut"), dt(dOut, "dOut"), ptr(out, "out"), dt(out, "out"), T, H, D);
        boolean mma = attentionOnTensorCores(D, q, k, v, dOut);
        Dim3 grid = mma ? Dim3.of(tiles(T), H) : Dim3.of(warpGrid(T), H), block = Dim3.of(mma ? ATT_MMA_THREADS : BLOCK);
        device.launch(mma ? Kernel.ATTENTION_BACKWARD_DQ_MMA : Kernel.ATTENTION_BACKWARD_DQ, grid, block, 0,
                ptr(dq, "dq"), dt(dq, "dq"), ptr(dOut, "dOut"), dt(dOut, "dOut"), ptr(q, "q"), dt(q, "q"),
                ptr(k, "k"), dt(k, "k"), ptr(v, "v"), dt(v, "v"), ptr(lse, "lse"), ptr(delta, "delta"),
                ptr(cuSeqlens, "cuSeqlens"), S, T, H, D, window, (float) scale);
        device.launch(mma ? Kernel.ATTENTION_BACKWARD_DKV_MMA : Kernel.ATTENTION_BACKWARD_DKV, grid, block, 0,
                ptr(dk, "dk"), dt(dk, "dk"), ptr(dv, "dv"), dt(dv, "dv"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                ptr(q, "q"), dt(q, "q"), ptr(k, "k"), dt(k, "k"), ptr(v, "v"), dt(v, "v"), ptr(lse, "lse"),
                ptr(delta, "delta"), ptr(cuSeqlens, "cuSeqlens"), S, T, H, D, window, (float) scale);
    }

    /** Blocks of {@link #ATT_MMA_TILE} rows covering T. */
    private static int tiles(int T) { return (T + ATT_MMA_TILE - 1) / ATT_MMA_TILE; }

    // ------------------------------------------------------------------ gates

    @Override public void headGate(Tensor out, Tensor gate, Tensor y, Tensor x, Tensor w) {
        OpContract.HeadGate s = OpContract.headGate(out, gate, y, x, w);
        requireF32("headGate", "gate", gate);
        vectorised(Kernel.HEAD_GATE, y.numel(), ptr(out, "out"), dt(out, "out"), ptr(gate, "gate"), ptr(y, "y"),
                dt(y, "y"), ptr(x, "x"), dt(x, "x"), ptr(w, "w"), dt(w, "w"), s.T(), s.H(), s.D(), s.C(), s.G());
    }

    @Override public void headGateBackward(Tensor dy, Tensor dx, Tensor dw, Tensor dOut, Tensor y, Tensor x, Tensor w, Tensor gate) {
        OpContract.HeadGate s = OpContract.headGateBackward(dy, dx, dw, dOut, y, x, w, gate);
        requireF32("headGateBackward", "gate", gate);
        int T = s.T(), H = s.H(), D = s.D(), C = s.C(), G = s.G();
        if (T == 0) return;
        Tensor gp = device.scratch(S_A, (long) T * H);
        device.launch(Kernel.HEAD_GATE_BACKWARD_DY, Dim3.of(warpGrid((long) T * H)), Dim3.of(BLOCK), 0,
                ptr(dy, "dy"), dt(dy, "dy"), ptr(gp, "gp"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                ptr(y, "y"), dt(y, "y"), ptr(gate, "gate"), T, H, D);
        elementwise(Kernel.HEAD_GATE_BACKWARD_DX, (long) T * G, ptr(dx, "dx"), dt(dx, "dx"), ptr(gp, "gp"),
                ptr(w, "w"), dt(w, "w"), T, H, C, G);
        device.launch(Kernel.HEAD_GATE_BACKWARD_DW, Dim3.of(H * G), Dim3.of(REDUCE_BLOCK), 0, ptr(dw, "dw"), dt(dw, "dw"),
                ptr(gp, "gp"), ptr(x, "x"), dt(x, "x"), T, H, C, G);
    }

    @Override public void smear(Tensor out, Tensor gate, Tensor x, Tensor w, Tensor lambda) {
        OpContract.Smear s = OpContract.smear(out, gate, x, w, lambda);
        requireF32("smear", "gate", gate);
        vectorised(Kernel.SMEAR, x.numel(), ptr(out, "out"), dt(out, "out"), ptr(gate, "gate"), ptr(x, "x"),
                dt(x, "x"), ptr(w, "w"), dt(w, "w"), ptr(lambda, "lambda"), dt(lambda, "lambda"), s.T(), s.C(), s.G());
    }

    @Override public void smearBackward(Tensor dx, Tensor dw, Tensor dLambda, Tensor dOut, Tensor x, Tensor w, Tensor lambda, Tensor gate) {
        OpContract.Smear s = OpContract.smearBackward(dx, dw, dLambda, dOut, x, w, lambda, gate);
        requireF32("smearBackward", "gate", gate);
        int T = s.T(), C = s.C(), G = s.G();
        if (T == 0) return;
        Tensor dotp = device.scratch(S_A, T);
        device.launch(Kernel.SMEAR_BACKWARD_DOT, Dim3.of(warpGrid(T)), Dim3.of(BLOCK), 0, ptr(dotp, "dotp"),
                ptr(dOut, "dOut"), dt(dOut, "dOut"), ptr(x, "x"), dt(x, "x"), T, C);
        vectorised(Kernel.SMEAR_BACKWARD_DX, x.numel(), ptr(dx, "dx"), dt(dx, "dx"), ptr(dOut, "dOut"), dt(dOut, "dOut"),
                ptr(w, "w"), dt(w, "w"), ptr(lambda, "lambda"), dt(lambda, "lambda"), ptr(gate, "gate"),
                ptr(dotp, "dotp"), T, C, G);
        device.launch(Kernel.SMEAR_BACKWARD_PARAMS, Dim3.of(G + 1), Dim3.of(REDUCE_BLOCK), 0, ptr(dw, "dw"),
                dt(dw, "dw"), ptr(dLambda, "dLambda"), dt(dLambda, "dLambda"), ptr(x, "x"),
                dt(x, "x"), ptr(lambda, "lambda"), dt(lambda, "lambda"), ptr(gate, "gate"), ptr(dotp, "dotp"), T, C, G);
    }

    // ------------------------------------------------------------------ loss

    /** Threads per row of the cross-entropy kernel (vocabulary 50304: ~100 columns a thread). */
    static final int CE_BLOCK = 512;

    @Override public void softcapCrossEntropy(Tensor losses, Tensor dLogits, Tensor logits, Tensor targets, Tensor targetWeights,
                                              double[] weights, double cap, double divisor, double gradScale) {
        OpContract.Logits s = OpContract.softcapCrossEntropy(losses, dLogits, logits, targets, targetWeights, weights);
        if (weights.length > MTP_MAX)
            throw new IllegalArgumentException("softcapCrossEntropy: the CUDA kernel takes 1.." + MTP_MAX
                    + " multi-token weights, got " + weights.length);
        if (s.T() == 0) return;
        Arrays.fill(mtpCall, 0f);
        for (int i = 0; i < weights.length; i++) mtpCall[i] = (float) weights[i];
        device.launch(Kernel.SOFTCAP_CROSS_ENTROPY, Dim3.of(s.T()), Dim3.of(CE_BLOCK), 0, ptr(losses, "losses"), dt(losses, "losses"),
                ptrOrNull(dLogits, "dLogits"), dtOrZero(dLogits, "dLogits"), ptr(logits, "logits"), dt(logits, "logits"),
                ptr(targets, "targets"), ptrOrNull(targetWeights, "targetWeights"), dtOrZero(targetWeights, "targetWeights"),
                mtpWeightsOnDevice(), weights.length, s.T(), s.V(), (float) cap, (float) divisor, (float) gradScale);
    }

    /** {@link #mtpWeights} holding {@link #mtpCall}: uploaded first when it holds other values (or none yet). */
    private Ptr mtpWeightsOnDevice() {
        if (mtpWeights == null) {
            mtpWeights = new Tensor(device.backend().allocate(4L * MTP_MAX), DType.F32, 0, Shape.of(MTP_MAX));
        } else if (Arrays.equals(mtpCall, mtpOnDevice)) {
            return ptr(mtpWeights, "mtpWeights");
        }
        MemorySegment.copy(mtpCall, 0, mtpHost, ValueLayout.JAVA_FLOAT, 0, MTP_MAX);
        device.backend().copyFromHostAsync(mtpWeights, mtpHost);   // ordered after the launches that read the old values
        System.arraycopy(mtpCall, 0, mtpOnDevice, 0, MTP_MAX);
        return ptr(mtpWeights, "mtpWeights");
    }

    // ------------------------------------------------------------------ optimizer

    @Override public void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps,
                                   long step, double decay, DecayMask mask) {
        OpContract.adamStep(p, g, m, v, step, mask);
        long n = p.numel();
        double stepScale = lr * Math.sqrt(1 - Math.pow(beta2, step)) / (1 - Math.pow(beta1, step));
        vectorised(Kernel.ADAM_STEP, n, ptr(p, "p"), dt(p, "p"), ptr(g, "g"), dt(g, "g"), ptr(m, "m"), dt(m, "m"),
                ptr(v, "v"), dt(v, "v"), n, (float) beta1, (float) beta2, (float) eps, (float) stepScale, (float) decay,
                mask.ordinal());
    }

    @Override public void muonMomentum(Tensor update, Tensor buf, Tensor g, double momentum) {
        OpContract.muonMomentum(update, buf, g);
        long n = g.numel();
        vectorised(Kernel.MUON_MOMENTUM, n, ptr(update, "update"), dt(update, "update"), ptr(buf, "buf"), dt(buf, "buf"),
                ptr(g, "g"), dt(g, "g"), n, (float) momentum);
    }

    @Override public void frobeniusNormalize(Tensor out, Tensor x, double factor, double eps) {
        int B = OpContract.frobeniusNormalize(out, x).B();
        long per = B == 0 ? 0 : x.numel() / B;
        if (B == 0 || per == 0) return;
        // enough partial blocks over all B matrices to fill the GPU, at least one vector per thread
        int parts = (int) Math.max(1, Math.min((FILL_BLOCKS + B - 1) / B, (per + (long) BLOCK * VEC - 1) / ((long) BLOCK * VEC)));
        Tensor partials = device.scratch(S_PARTIALS, (long) B * parts);
        device.launch(Kernel.FROBENIUS_NORMALIZE_PARTIAL, Dim3.of(parts, B), Dim3.of(BLOCK), 0, ptr(partials, "partials"),
                ptr(x, "x"), dt(x, "x"), per);
        device.launch(Kernel.FROBENIUS_NORMALIZE_SCALE, Dim3.of(gridFor((per + VEC - 1) / VEC), B), Dim3.of(BLOCK), 0, ptr(out, "out"),
                dt(out, "out"), ptr(x, "x"), dt(x, "x"), ptr(partials, "partials"), parts, per, (float) factor, (float) eps);
    }

    @Override public void varianceReduce(Tensor v, Tensor s2, double beta2) {
        OpContract.Matrices s = OpContract.varianceReduce(v, s2);
        int B = s.B(), R = s.R(), C = s.C();
        int rows = toInt((long) B * R, "B·R");
        if (rows == 0) return;
        Tensor mu = device.scratch(S_A, rows), rho = device.scratch(S_B, rows), scale = device.scratch(S_C, B);
        device.launch(Kernel.VARIANCE_REDUCE_ROWS, Dim3.of(rows), Dim3.of(BLOCK), 0, ptr(mu, "mu"), ptr(rho, "rho"),
                ptr(v, "v"), dt(v, "v"), ptr(s2, "s2"), dt(s2, "s2"), C, (float) beta2);
        device.launch(Kernel.VARIANCE_REDUCE_MATRIX, Dim3.of(B), Dim3.of(BLOCK), 0, ptr(scale, "scale"), ptr(mu, "mu"),
                ptr(rho, "rho"), R, C);
        device.launch(Kernel.VARIANCE_REDUCE_APPLY, Dim3.of(rows), Dim3.of(BLOCK), 0, ptr(v, "v"), dt(v, "v"),
                ptr(rho, "rho"), ptr(scale, "scale"), R, C);
    }

    @Override public void decayedUpdate(Tensor p, Tensor v, double lr, double decay, DecayMask mask) {
        OpContract.decayedUpdate(p, v, mask);
        long n = p.numel();
        vectorised(Kernel.DECAYED_UPDATE, n, ptr(p, "p"), dt(p, "p"), ptr(v, "v"), dt(v, "v"), n, (float) lr,
                (float) decay, mask.ordinal());
    }

    // ------------------------------------------------------------------ FP8 (the record's LM head)

    /** FP8 format code of the kernels: 0 = E4M3, 1 = E5M2. */
    private static int fmt(DType d) { return d == DType.FP8_E4M3 ? 0 : 1; }

    /** FP8 GEMMs need compute capability 8.9 (Ada) or newer: Hopper's are the record's. */
    static final int FP8_MIN_CC = 89;

    @Override public Optional<String> fp8Unavailable() {
        int cc = device.computeCapability();
        if (cc < FP8_MIN_CC)
            return Optional.of("this GPU (compute capability " + cc / 10 + "." + cc % 10 + ") has no FP8 tensor cores (8.9+ needed)");
        if (device.gemm() == null)
            return Optional.of("cuBLASLt is not loaded, and the FP8 GEMM runs on cuBLASLt");
        return Optional.empty();
    }

    @Override public void quantizeFp8(Tensor out, Tensor x, Tensor scale) {
        OpContract.quantizeFp8(out, x, scale);
        long n = x.numel();
        elementwise(Kernel.QUANTIZE_FP8, n, ptr(out, "out"), fmt(out.dtype()), ptr(x, "x"), dt(x, "x"), ptr(scale, "scale"),
                1L, n, n, 0);
    }

    /**
     * Quantises both operands straight into the layout Hopper's FP8 GEMM takes ("TN": op(a) as
     * [M, Kp] and op(b)ᵀ as [N, Kp] row-major, K zero-padded to Kp, a multiple of 16) in scratch, then
     * runs cuBLASLt's FP8 GEMM with the scales as device pointers; where that is not available (see
     * {@link #fp8Unavailable}, or N not a multiple of 16) the matmul_fp8 kernel computes the same
     * products on CUDA cores.
     */
    @Override public void matmulFp8(Tensor out, Tensor a, DType aFormat, Tensor aScale, Tensor b, DType bFormat, Tensor bScale,
                                    boolean transA, boolean transB, double beta) {
        OpContract.Matmul s = OpContract.matmulFp8(out, a, aFormat, aScale, b, bFormat, bScale, transA, transB);
        int odt = dt(out, "out"), adt = dt(a, "a"), bdt = dt(b, "b");
        int M = toInt(s.m(), "M"), N = toInt(s.n(), "N"), K = toInt(s.k(), "K");
        if (M == 0 || N == 0) return;
        long Kp = Math.max(16, (K + 15L) / 16 * 16);
        Tensor qa = fp8Scratch(S_FP8_A, aFormat, M, Kp), qb = fp8Scratch(S_FP8_B, bFormat, N, Kp);
        elementwise(Kernel.QUANTIZE_FP8, M * Kp, ptr(qa, "qa"), fmt(aFormat), ptr(a, "a"), adt, ptr(aScale, "aScale"),
                (long) M, (long) K, Kp, transA ? 1 : 0);
        elementwise(Kernel.QUANTIZE_FP8, N * Kp, ptr(qb, "qb"), fmt(bFormat), ptr(b, "b"), bdt, ptr(bScale, "bScale"),
                (long) N, (long) K, Kp, transB ? 0 : 1);
        if (fp8Unavailable().isEmpty() && N % 16 == 0 && device.gemm() instanceof CublasLtGemm lt
                && lt.matmulFp8(out, qa, aScale, qb, bScale, 1, beta))
            return;
        device.launch(Kernel.MATMUL_FP8, Dim3.of(toInt((N + 15) / 16, "N/16"), toInt((M + 15) / 16, "M/16")), Dim3.of(16, 16), 0,
                ptr(out, "out"), odt, ptr(qa, "qa"), fmt(aFormat), ptr(qb, "qb"), fmt(bFormat), ptr(aScale, "aScale"),
                ptr(bScale, "bScale"), M, N, toInt(Kp, "K"), (float) beta);
    }

    /** A [rows, cols] FP8 view of scratch slot {@code slot} (device allocations are 256-byte aligned, as cuBLASLt's FP8 needs 16). */
    private Tensor fp8Scratch(int slot, DType format, long rows, long cols) {
        Tensor t = device.scratch(slot, (rows * cols + 3) / 4);
        return new Tensor(t.storage(), format, t.byteOffset(), Shape.of(rows, cols));
    }
}
