package dev.speedrun.kernels;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.util.Arrays;

/**
 * The argument checks of {@link Ops}, written once and called by every backend before it touches
 * memory: one method per op, named like it, checking dtypes class (floating, I32) and shapes
 * exactly as {@link Ops} documents them and returning the sizes the op runs on. Messages start
 * with the op and name the argument, the expected and the actual shape.
 *
 * <p>Floating here means F64, F32 or BF16; a backend narrows that afterwards (the CUDA kernels
 * take F32 and BF16 only, saved statistics in F32). Checks of tensor <i>contents</i> (token ids
 * in range, {@code cu_seqlens} monotone) need the data on the host, so only the CPU backend makes
 * them; a GPU op never reads device memory back.
 */
public final class OpContract {
    private OpContract() {}

    // ------------------------------------------------------------------ sizes the ops run on

    /** Rows of a row-wise op: R rows of C columns. */
    public record Rows(int R, int C) {}

    /** A [T,H,D] activation (attention, rotary, key shift). */
    public record Thd(int T, int H, int D) {}

    /** {@link Ops#embedding}: T tokens, C columns, V table rows. */
    public record Embedding(int T, int C, int V) {}

    /** {@link Ops#headGate}: y [T,H,D], x [T,C], w [H,G]. */
    public record HeadGate(int T, int H, int D, int C, int G) {}

    /** {@link Ops#smear}: x [T,C], w [G]. */
    public record Smear(int T, int C, int G) {}

    /** {@link Ops#softcapCrossEntropy}: logits [T,V]. */
    public record Logits(int T, int V) {}

    /** {@link Ops#matmul}: out [batch, m, n] = op(a) [batch, m, k] · op(b) [batch, k, n]. */
    public record Matmul(long batch, long m, long n, long k) {}

    /** B matrices of R rows and C columns ([R,C] counts as B = 1). */
    public record Matrices(int B, int R, int C) {}

    // ------------------------------------------------------------------ argument checks

    public static void requireFloat(String op, String name, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " must not be null");
        DType d = t.dtype();
        if (d != DType.F64 && d != DType.F32 && d != DType.BF16)
            throw new IllegalArgumentException(op + ": " + name + " must be F64, F32 or BF16, got " + d + " " + t.shape());
    }

    public static void requireI32(String op, String name, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": " + name + " must not be null");
        if (t.dtype() != DType.I32)
            throw new IllegalArgumentException(op + ": " + name + " must be I32, got " + t.dtype() + " " + t.shape());
    }

    public static void requireNumel(String op, String name, Tensor t, long n) {
        if (t.numel() != n)
            throw new IllegalArgumentException(op + ": " + name + " must have " + n + " elements, got shape " + t.shape());
    }

    public static void requireShape(String op, String name, Tensor t, long... dims) {
        if (!Arrays.equals(t.shape().dims(), dims))
            throw new IllegalArgumentException(op + ": " + name + " must be " + Arrays.toString(dims) + ", got " + t.shape());
    }

    public static void requireRank(String op, String name, Tensor t, int rank, String what) {
        if (t.rank() != rank)
            throw new IllegalArgumentException(op + ": " + name + " must be " + what + ", got " + t.shape());
    }

    /** A floating tensor of {@code n} elements (any shape: the elementwise ops see flat arrays). */
    private static void floatNumel(String op, String name, Tensor t, long n) {
        requireFloat(op, name, t);
        requireNumel(op, name, t, n);
    }

    /** A floating tensor with exactly one element (scalar coefficient), or null. */
    private static void scalarOrNull(String op, String name, Tensor t) {
        if (t != null) floatNumel(op, name, t, 1);
    }

    private static void floatShape(String op, String name, Tensor t, long... dims) {
        requireFloat(op, name, t);
        requireShape(op, name, t, dims);
    }

    /** Whether a and b share bytes of one storage. */
    public static boolean overlaps(Tensor a, Tensor b) {
        if (!a.sameStorage(b) || a.byteSize() == 0 || b.byteSize() == 0) return false;
        return a.byteOffset() < b.byteOffset() + b.byteSize() && b.byteOffset() < a.byteOffset() + a.byteSize();
    }

    // ------------------------------------------------------------------ elementwise

    public static void fill(Tensor out, double value) {
        if (out != null && out.dtype() == DType.I32) {
            if ((int) value != value) throw new IllegalArgumentException("fill: value " + value + " is not an int for I32 tensor " + out.shape());
            return;
        }
        requireFloat("fill", "out", out);
    }

    public static void convert(Tensor out, Tensor x) {
        requireFloat("convert", "out", out);
        floatNumel("convert", "x", x, out.numel());
    }

    public static void add(Tensor out, Tensor x, Tensor y) {
        requireFloat("add", "out", out);
        floatNumel("add", "x", x, out.numel());
        floatNumel("add", "y", y, out.numel());
    }

    public static void mix(Tensor out, Tensor x, Tensor a, Tensor y, Tensor b) {
        requireFloat("mix", "out", out);
        floatNumel("mix", "x", x, out.numel());
        scalarOrNull("mix", "a", a);
        scalarOrNull("mix", "b", b);
        if (y != null) floatNumel("mix", "y", y, out.numel());
    }

    public static void mixBackward(Tensor dx, Tensor dy, Tensor da, Tensor db, Tensor dOut, Tensor x, Tensor a, Tensor y, Tensor b) {
        String op = "mixBackward";
        requireFloat(op, "dOut", dOut);
        long n = dOut.numel();
        if (dx != null) floatNumel(op, "dx", dx, n);
        if (dy != null) floatNumel(op, "dy", dy, n);
        scalarOrNull(op, "a", a);
        scalarOrNull(op, "b", b);
        scalarOrNull(op, "da", da);
        scalarOrNull(op, "db", db);
        if (da != null && a == null) throw new IllegalArgumentException(op + ": da given but a is null (a constant coefficient has no gradient)");
        if (db != null && b == null) throw new IllegalArgumentException(op + ": db given but b is null (a constant coefficient has no gradient)");
        if (da != null) floatNumel(op, "x", x, n);
        if (db != null) {
            if (y == null) throw new IllegalArgumentException(op + ": db given but y is null");
            floatNumel(op, "y", y, n);
        }
        if (dy != null && y == null) throw new IllegalArgumentException(op + ": dy given but y is null (the forward had no second term)");
    }

    public static void sigmoid(Tensor out, Tensor x) { unary("sigmoid", out, x); }

    public static void sigmoidBackward(Tensor dx, Tensor dOut, Tensor y) { unaryBackward("sigmoidBackward", dx, dOut, "y", y); }

    public static void reluSquared(Tensor out, Tensor x) { unary("reluSquared", out, x); }

    public static void reluSquaredBackward(Tensor dx, Tensor dOut, Tensor x) { unaryBackward("reluSquaredBackward", dx, dOut, "x", x); }

    private static void unary(String op, Tensor out, Tensor x) {
        requireFloat(op, "out", out);
        floatNumel(op, "x", x, out.numel());
    }

    private static void unaryBackward(String op, Tensor dx, Tensor dOut, String saved, Tensor s) {
        requireFloat(op, "dx", dx);
        floatNumel(op, "dOut", dOut, dx.numel());
        floatNumel(op, saved, s, dx.numel());
    }

    /** {@link Ops#quantizeFp8}: out FP8 [N], x floating [N], scale F32 [1]. */
    public static void quantizeFp8(Tensor out, Tensor x, Tensor scale) {
        requireFp8("quantizeFp8", "out", out == null ? null : out.dtype());
        floatNumel("quantizeFp8", "x", x, out.numel());
        fp8Scale("quantizeFp8", "scale", scale);
    }

    /** An FP8 format: E4M3 or E5M2. */
    private static void requireFp8(String op, String name, DType d) {
        if (d != DType.FP8_E4M3 && d != DType.FP8_E5M2)
            throw new IllegalArgumentException(op + ": " + name + " must be FP8_E4M3 or FP8_E5M2, got " + d);
    }

    /** A per-tensor FP8 scale: one F32 element (a device pointer for cuBLASLt's scale attributes). */
    private static void fp8Scale(String op, String name, Tensor s) {
        if (s == null) throw new IllegalArgumentException(op + ": " + name + " must not be null");
        if (s.dtype() != DType.F32 || s.numel() != 1)
            throw new IllegalArgumentException(op + ": " + name + " must be one F32 element, got " + s.dtype() + " " + s.shape());
    }

    public static void sum(Tensor out, Tensor x) { reduction("sum", out, x); }

    public static void sumSquares(Tensor out, Tensor x) { reduction("sumSquares", out, x); }

    private static void reduction(String op, Tensor out, Tensor x) {
        floatNumel(op, "out", out, 1);
        requireFloat(op, "x", x);
    }

    public static void tokenMask(Tensor out, Tensor tokens) {
        requireFloat("tokenMask", "out", out);
        requireI32("tokenMask", "tokens", tokens);
        requireNumel("tokenMask", "tokens", tokens, out.numel());
    }

    // ------------------------------------------------------------------ gemm

    /** Ranks, batch and inner sizes of {@link Ops#matmul}; dtypes are the backend's (its GEMM decides). */
    public static Matmul matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB) {
        int r = out.rank();
        if ((r != 2 && r != 3) || a.rank() != r || b.rank() != r)
            throw new IllegalArgumentException(matmulCall(out, a, b, transA, transB) + ": out, a and b must all be 2-D, or all 3-D (batched)");
        long batch = r == 3 ? out.dim(0) : 1;
        if (r == 3 && (a.dim(0) != batch || b.dim(0) != batch))
            throw new IllegalArgumentException(matmulCall(out, a, b, transA, transB) + ": batch dimensions differ");
        long m = out.dim(r - 2), n = out.dim(r - 1);
        long am = transA ? a.dim(r - 1) : a.dim(r - 2), k = transA ? a.dim(r - 2) : a.dim(r - 1);
        long bk = transB ? b.dim(r - 1) : b.dim(r - 2), bn = transB ? b.dim(r - 2) : b.dim(r - 1);
        if (am != m || bn != n || bk != k)
            throw new IllegalArgumentException(matmulCall(out, a, b, transA, transB) + ": shapes do not agree (op(a) is [" + am + "," + k
                    + "] and op(b) is [" + bk + "," + bn + "]: they do not fit out [" + m + "," + n + "])");
        if (overlaps(out, a) || overlaps(out, b))
            throw new IllegalArgumentException(matmulCall(out, a, b, transA, transB) + ": out must not overlap a or b");
        return new Matmul(batch, m, n, k);
    }

    /**
     * {@link Ops#matmulFp8}: 2-D floating operands, FP8 formats (not E5M2 for both), F32 [1]
     * scales; out F64, F32 or BF16 (a backend narrows it). Returns the sizes (batch 1).
     */
    public static Matmul matmulFp8(Tensor out, Tensor a, DType aFormat, Tensor aScale, Tensor b, DType bFormat, Tensor bScale,
                                   boolean transA, boolean transB) {
        String op = "matmulFp8";
        requireFloat(op, "out", out);
        requireFloat(op, "a", a);
        requireFloat(op, "b", b);
        requireFp8(op, "aFormat", aFormat);
        requireFp8(op, "bFormat", bFormat);
        if (aFormat == DType.FP8_E5M2 && bFormat == DType.FP8_E5M2)
            throw new IllegalArgumentException(op + ": a and b are both FP8_E5M2; FP8 GEMMs take E5M2 for one operand at most");
        fp8Scale(op, "aScale", aScale);
        fp8Scale(op, "bScale", bScale);
        if (out.rank() != 2 || a.rank() != 2 || b.rank() != 2)
            throw new IllegalArgumentException(op + ": out, a and b must be 2-D, got " + out.shape() + ", " + a.shape() + ", " + b.shape());
        try {
            return matmul(out, a, b, transA, transB);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(op + ": " + e.getMessage(), e);
        }
    }

    /** The call as a message prefix: shapes, dtypes and transposes of all three operands. */
    public static String matmulCall(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB) {
        return "matmul(out " + out.shape() + " " + out.dtype() + ", a " + a.shape() + " " + a.dtype()
                + (transA ? " transposed" : "") + ", b " + b.shape() + " " + b.dtype() + (transB ? " transposed" : "") + ")";
    }

    // ------------------------------------------------------------------ embedding

    public static Embedding embedding(Tensor out, Tensor table, Tensor tokens) {
        return gather("embedding", "out", out, "table", table, tokens);
    }

    public static Embedding embeddingBackward(Tensor dTable, Tensor dOut, Tensor tokens) {
        return gather("embeddingBackward", "dOut", dOut, "dTable", dTable, tokens);
    }

    private static Embedding gather(String op, String rowsName, Tensor rows, String tableName, Tensor table, Tensor tokens) {
        requireFloat(op, tableName, table);
        requireFloat(op, rowsName, rows);
        requireI32(op, "tokens", tokens);
        requireRank(op, tableName, table, 2, "[V,C]");
        int V = table.size(0), C = table.size(1), T = Math.toIntExact(tokens.numel());
        requireShape(op, rowsName, rows, T, C);
        return new Embedding(T, C, V);
    }

    // ------------------------------------------------------------------ norms

    public static Rows rmsNorm(Tensor out, Tensor rrms, Tensor x) {
        String op = "rmsNorm";
        requireFloat(op, "out", out);
        requireFloat(op, "rrms", rrms);
        Rows r = rows(op, x);
        requireNumel(op, "out", out, x.numel());
        requireNumel(op, "rrms", rrms, r.R());
        return r;
    }

    public static Rows rmsNormBackward(Tensor dx, Tensor dOut, Tensor x, Tensor rrms) {
        String op = "rmsNormBackward";
        requireFloat(op, "dx", dx);
        requireFloat(op, "dOut", dOut);
        requireFloat(op, "rrms", rrms);
        Rows r = rows(op, x);
        requireNumel(op, "dx", dx, x.numel());
        requireNumel(op, "dOut", dOut, x.numel());
        requireNumel(op, "rrms", rrms, r.R());
        return r;
    }

    /** x [R,C]: rows of its last axis (a leading [..] is flattened into R). */
    private static Rows rows(String op, Tensor x) {
        requireFloat(op, "x", x);
        if (x.rank() < 1) throw new IllegalArgumentException(op + ": x must be [R,C], got " + x.shape());
        int C = x.size(-1);
        return new Rows(C == 0 ? 0 : Math.toIntExact(x.numel() / C), C);
    }

    // ------------------------------------------------------------------ rotary

    public static Thd rotary(Tensor out, Tensor x, Tensor freqs) { return rotation("rotary", "out", out, "x", x, freqs); }

    public static Thd rotaryBackward(Tensor dx, Tensor dOut, Tensor freqs) {
        return rotation("rotaryBackward", "dx", dx, "dOut", dOut, freqs);
    }

    private static Thd rotation(String op, String outName, Tensor out, String inName, Tensor in, Tensor freqs) {
        Thd s = thd(op, inName, in);
        floatShape(op, outName, out, in.shape().dims());
        requireFloat(op, "freqs", freqs);
        if (s.D() % 2 != 0) throw new IllegalArgumentException(op + ": head dim D must be even, got " + in.shape());
        requireNumel(op, "freqs", freqs, s.D() / 2);
        return s;
    }

    public static Thd keyShift(Tensor out, Tensor x) {
        Thd s = shift("keyShift", "out", out, "x", x);
        if (overlaps(x, out)) throw new IllegalArgumentException("keyShift: out must not alias x");
        return s;
    }

    public static Thd keyShiftBackward(Tensor dx, Tensor dOut) { return shift("keyShiftBackward", "dx", dx, "dOut", dOut); }

    private static Thd shift(String op, String outName, Tensor out, String inName, Tensor in) {
        Thd s = thd(op, inName, in);
        floatShape(op, outName, out, in.shape().dims());
        if (s.D() % 4 != 0) throw new IllegalArgumentException(op + ": head dim D must be a multiple of 4, got " + in.shape());
        return s;
    }

    private static Thd thd(String op, String name, Tensor t) {
        requireFloat(op, name, t);
        requireRank(op, name, t, 3, "[T,H,D]");
        return new Thd(t.size(0), t.size(1), t.size(2));
    }

    // ------------------------------------------------------------------ fused

    /** {@link Ops#mixRmsNorm}: the rows of out (R rows of C, its last axis). */
    public static Rows mixRmsNorm(Tensor out, Tensor norm, Tensor rrms, Tensor scaled, Tensor x, Tensor a, Tensor y, Tensor b, Tensor s) {
        String op = "mixRmsNorm";
        requireFloat(op, "out", out);
        if (out.rank() < 1) throw new IllegalArgumentException(op + ": out must be [R,C], got " + out.shape());
        int C = out.size(-1);
        Rows r = new Rows(C == 0 ? 0 : Math.toIntExact(out.numel() / C), C);
        floatNumel(op, "x", x, out.numel());
        scalarOrNull(op, "a", a);
        if (y != null) floatNumel(op, "y", y, out.numel());
        scalarOrNull(op, "b", b);
        floatNumel(op, "norm", norm, out.numel());
        requireFloat(op, "rrms", rrms);
        requireNumel(op, "rrms", rrms, r.R());
        if (overlaps(norm, out) || overlaps(norm, x) || (y != null && overlaps(norm, y)))
            throw new IllegalArgumentException(op + ": norm must not alias out, x or y");
        scalarOrNull(op, "s", s);
        if (scaled == null) {
            if (s != null) throw new IllegalArgumentException(op + ": s given but scaled is null");
        } else {
            floatNumel(op, "scaled", scaled, out.numel());
            if (overlaps(scaled, out) || overlaps(scaled, norm) || overlaps(scaled, x) || (y != null && overlaps(scaled, y)))
                throw new IllegalArgumentException(op + ": scaled must not alias out, norm, x or y");
        }
        return r;
    }

    /** {@link Ops#rmsNormRotary}: x [T,H,D]. */
    public static Thd rmsNormRotary(Tensor out, Tensor rrms, Tensor x, Tensor freqs, boolean keyShift) {
        String op = "rmsNormRotary";
        Thd s = thd(op, "x", x);
        floatShape(op, "out", out, x.shape().dims());
        headRowStats(op, s, x, rrms, freqs, keyShift);
        if (overlaps(out, x)) throw new IllegalArgumentException(op + ": out must not alias x");
        return s;
    }

    /** The per-head-row statistics and frequencies of the fused q/k ops: rrms [T·H], freqs [D/2], D even (a multiple of 4 with the key shift). */
    private static void headRowStats(String op, Thd s, Tensor x, Tensor rrms, Tensor freqs, boolean keyShift) {
        requireFloat(op, "rrms", rrms);
        requireNumel(op, "rrms", rrms, (long) s.T() * s.H());
        requireFloat(op, "freqs", freqs);
        if (s.D() % (keyShift ? 4 : 2) != 0)
            throw new IllegalArgumentException(op + ": head dim D must be a multiple of " + (keyShift ? "4 (key shift)" : "2") + ", got " + x.shape());
        requireNumel(op, "freqs", freqs, s.D() / 2);
    }

    /** {@link Ops#addEmbedding}: T tokens, C columns, V table rows. */
    public static Embedding addEmbedding(Tensor out, Tensor x, Tensor table, Tensor tokens) {
        Embedding e = gather("addEmbedding", "out", out, "table", table, tokens);
        floatShape("addEmbedding", "x", x, out.shape().dims());
        return e;
    }

    /** {@link Ops#headGateScaled}: y [T,H,D], x [T,C], w [H,G]. */
    public static HeadGate headGateScaled(Tensor out, Tensor gate, Tensor scaled, Tensor y, Tensor x, Tensor w, Tensor s) {
        String op = "headGateScaled";
        HeadGate h = headGateInputs(op, gate, y, x, w);
        floatShape(op, "out", out, y.shape().dims());
        floatShape(op, "scaled", scaled, y.shape().dims());
        scalarOrNull(op, "s", s);
        if (overlaps(out, y) || overlaps(out, x) || overlaps(out, scaled)) throw new IllegalArgumentException(op + ": out must not alias y, x or scaled");
        return h;
    }

    /** {@link Ops#rmsNormRotaryBackward}: x [T,H,D]. */
    public static Thd rmsNormRotaryBackward(Tensor dx, Tensor dOut, Tensor x, Tensor rrms, Tensor freqs, boolean keyShift) {
        String op = "rmsNormRotaryBackward";
        Thd s = thd(op, "x", x);
        floatShape(op, "dx", dx, x.shape().dims());
        floatShape(op, "dOut", dOut, x.shape().dims());
        headRowStats(op, s, x, rrms, freqs, keyShift);
        if (overlaps(dx, dOut)) throw new IllegalArgumentException(op + ": dx must not alias dOut");
        return s;
    }

    // ------------------------------------------------------------------ attention

    public static Thd attention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, int window) {
        String op = "attention";
        Thd s = attentionInputs(op, q, k, v, lse, cuSeqlens, window);
        floatShape(op, "out", out, q.shape().dims());
        return s;
    }

    public static Thd attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
                                        Tensor out, Tensor lse, Tensor cuSeqlens, int window) {
        String op = "attentionBackward";
        Thd s = attentionInputs(op, q, k, v, lse, cuSeqlens, window);
        long[] dims = q.shape().dims();
        floatShape(op, "dq", dq, dims);
        floatShape(op, "dk", dk, dims);
        floatShape(op, "dv", dv, dims);
        floatShape(op, "dOut", dOut, dims);
        floatShape(op, "out", out, dims);
        return s;
    }

    private static Thd attentionInputs(String op, Tensor q, Tensor k, Tensor v, Tensor lse, Tensor cu, int window) {
        Thd s = thd(op, "q", q);
        floatShape(op, "k", k, q.shape().dims());
        floatShape(op, "v", v, q.shape().dims());
        floatShape(op, "lse", lse, s.H(), s.T());
        if (window < 0) throw new IllegalArgumentException(op + ": window must be ≥ 0, got " + window);
        requireI32(op, "cuSeqlens", cu);
        requireRank(op, "cuSeqlens", cu, 1, "[S]");
        if (cu.size(0) < 1) throw new IllegalArgumentException(op + ": cuSeqlens must be [S] with S ≥ 1 (at least cu[0] = 0), got " + cu.shape());
        return s;
    }

    // ------------------------------------------------------------------ gates

    public static HeadGate headGate(Tensor out, Tensor gate, Tensor y, Tensor x, Tensor w) {
        String op = "headGate";
        HeadGate s = headGateInputs(op, gate, y, x, w);
        floatShape(op, "out", out, y.shape().dims());
        return s;
    }

    public static HeadGate headGateBackward(Tensor dy, Tensor dx, Tensor dw, Tensor dOut, Tensor y, Tensor x, Tensor w, Tensor gate) {
        String op = "headGateBackward";
        HeadGate s = headGateInputs(op, gate, y, x, w);
        floatShape(op, "dy", dy, y.shape().dims());
        floatShape(op, "dOut", dOut, y.shape().dims());
        floatShape(op, "dw", dw, s.H(), s.G());
        floatShape(op, "dx", dx, s.T(), s.C());
        return s;
    }

    private static HeadGate headGateInputs(String op, Tensor gate, Tensor y, Tensor x, Tensor w) {
        Thd t = thd(op, "y", y);
        int T = t.T(), H = t.H();
        floatShape(op, "gate", gate, T, H);
        requireFloat(op, "w", w);
        requireRank(op, "w", w, 2, "[H,G]");
        int G = w.size(1);
        if (w.size(0) != H) throw new IllegalArgumentException(op + ": w must be [H,G] with H = " + H + ", got " + w.shape());
        requireFloat(op, "x", x);
        requireRank(op, "x", x, 2, "[T,C]");
        if (x.size(0) != T || x.size(1) < G)
            throw new IllegalArgumentException(op + ": x must be [T,C] with T = " + T + " and C ≥ G = " + G + ", got " + x.shape());
        return new HeadGate(T, H, t.D(), x.size(1), G);
    }

    public static Smear smear(Tensor out, Tensor gate, Tensor x, Tensor w, Tensor lambda) {
        String op = "smear";
        Smear s = smearInputs(op, gate, x, w, lambda);
        floatShape(op, "out", out, s.T(), s.C());
        if (overlaps(out, x)) throw new IllegalArgumentException(op + ": out must not alias x");
        return s;
    }

    public static Smear smearBackward(Tensor dx, Tensor dw, Tensor dLambda, Tensor dOut, Tensor x, Tensor w, Tensor lambda, Tensor gate) {
        String op = "smearBackward";
        Smear s = smearInputs(op, gate, x, w, lambda);
        floatShape(op, "dx", dx, s.T(), s.C());
        floatShape(op, "dOut", dOut, s.T(), s.C());
        floatNumel(op, "dw", dw, s.G());
        floatNumel(op, "dLambda", dLambda, 1);
        return s;
    }

    private static Smear smearInputs(String op, Tensor gate, Tensor x, Tensor w, Tensor lambda) {
        requireFloat(op, "x", x);
        requireRank(op, "x", x, 2, "[T,C]");
        int T = x.size(0), C = x.size(1);
        floatNumel(op, "gate", gate, T);
        requireFloat(op, "w", w);
        int G = Math.toIntExact(w.numel());
        if (G > C) throw new IllegalArgumentException(op + ": w has " + G + " elements, more than the C = " + C + " columns of x " + x.shape());
        floatNumel(op, "lambda", lambda, 1);
        return new Smear(T, C, G);
    }

    // ------------------------------------------------------------------ loss

    public static Logits softcapCrossEntropy(Tensor losses, Tensor dLogits, Tensor logits, Tensor targets, Tensor targetWeights,
                                             double[] weights) {
        String op = "softcapCrossEntropy";
        requireFloat(op, "logits", logits);
        requireRank(op, "logits", logits, 2, "[T,V]");
        int T = logits.size(0), V = logits.size(1);
        floatNumel(op, "losses", losses, T);
        if (dLogits != null) floatShape(op, "dLogits", dLogits, T, V);
        requireI32(op, "targets", targets);
        requireNumel(op, "targets", targets, T);
        if (targetWeights != null) floatNumel(op, "targetWeights", targetWeights, T);
        if (weights == null || weights.length == 0) throw new IllegalArgumentException(op + ": weights must hold at least one MTP weight");
        if (V == 0 && T > 0) throw new IllegalArgumentException(op + ": logits " + logits.shape() + " have no vocabulary columns");
        return new Logits(T, V);
    }

    // ------------------------------------------------------------------ optimizer

    public static void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, long step, DecayMask mask) {
        String op = "adamStep";
        sameNumel(op, p, "p", "g", g, "m", m, "v", v);
        if (step < 1) throw new IllegalArgumentException(op + ": step must be ≥ 1 (the count after this step), got " + step);
        if (mask == null) throw new IllegalArgumentException(op + ": mask must not be null");
    }

    public static void muonMomentum(Tensor update, Tensor buf, Tensor g) {
        sameNumel("muonMomentum", g, "g", "update", update, "buf", buf);
    }

    public static Matrices frobeniusNormalize(Tensor out, Tensor x) {
        String op = "frobeniusNormalize";
        Matrices s = matrices(op, "x", x);
        floatShape(op, "out", out, x.shape().dims());
        return s;
    }

    public static Matrices varianceReduce(Tensor v, Tensor s2) {
        String op = "varianceReduce";
        Matrices s = matrices(op, "v", v);
        requireFloat(op, "s2", s2);
        if (v.rank() == 3) requireShape(op, "s2", s2, s.B(), s.R());
        else requireShape(op, "s2", s2, s.R());
        return s;
    }

    public static void decayedUpdate(Tensor p, Tensor v, DecayMask mask) {
        String op = "decayedUpdate";
        sameNumel(op, p, "p", "v", v);
        if (mask == null) throw new IllegalArgumentException(op + ": mask must not be null");
    }

    /** [B,R,C] or [R,C] (B = 1). */
    private static Matrices matrices(String op, String name, Tensor t) {
        requireFloat(op, name, t);
        if (t.rank() != 2 && t.rank() != 3) throw new IllegalArgumentException(op + ": " + name + " must be [B,R,C] or [R,C], got " + t.shape());
        return new Matrices(t.rank() == 3 ? t.size(0) : 1, t.size(-2), t.size(-1));
    }

    /** ref and every (name, tensor) pair floating, all of ref's numel. */
    private static void sameNumel(String op, Tensor ref, String refName, Object... namesAndTensors) {
        requireFloat(op, refName, ref);
        for (int i = 0; i < namesAndTensors.length; i += 2) {
            String name = (String) namesAndTensors[i];
            Tensor t = (Tensor) namesAndTensors[i + 1];
            requireFloat(op, name, t);
            if (t.numel() != ref.numel())
                throw new IllegalArgumentException(op + ": " + name + " " + t.shape() + " must have the numel of " + refName + " " + ref.shape());
        }
    }
}
