package dev.speedrun.model;

import dev.speedrun.tensor.Tensor;
import dev.speedrun.tensor.UploadStream;

/**
 * The model's buffers besides its parameters, as records of views into the model's one arena
 * block (llm.c's {@code ActivationTensors}): per layer, what its forward saves for its backward,
 * and the backward's gradient scratch. Every buffer is allocated for {@code maxTokens} rows; a
 * micro-batch of T tokens works on the first T ({@code at(T)}). A forward-only evaluation plan
 * (Gpt's {@code evalTokens > maxTokens}) has the same records for {@code evalTokens} rows, with
 * one set of block buffers that every block shares, and its head's logits and loss scratch hold
 * a chunk of R rows (the head runs chunk by chunk).
 *
 * <p>Shapes: T tokens, S cu_seqlens entries, C model dim, H heads, D head dim, F MLP hidden, V
 * padded vocabulary, G gate input dims. "stat" marks the statistics dtype
 * ({@link Precision#statistics()}: saved norms, gates, log-sum-exps, loss scratch); every other
 * float buffer is in the activation dtype.
 */
final class Activations {
    private Activations() {}

    /** The first T rows of a [maxTokens, ...] buffer. */
    static Tensor rows(Tensor t, int T) { return t.slice(0, T); }

    /** The micro-batch as uploaded (I32). */
    record Inputs(
            Tensor tokens,      // [T]      input token ids
            Tensor targets,     // [T]      next-token targets
            Tensor cuSeqlens) { // [S]      document boundaries, S ≤ maxTokens + 129
        Inputs at(int T, int S) { return new Inputs(rows(tokens, T), rows(targets, T), cuSeqlens.slice(0, S)); }
    }

    /**
     * A plan's input buffer sets (two for training: the copy stream writes the next micro-batch's
     * while the current one computes; docs/cuda.md, "Streams") and their upload stream, made on
     * the first upload. {@link #current()} is the set the last upload wrote.
     */
    static final class InputSets {
        private final Inputs[] sets;
        private int current;
        UploadStream uploads;

        InputSets(Inputs... sets) { this.sets = sets.clone(); }

        int count() { return sets.length; }

        /** The set of the last upload (and of the work queued since). */
        Inputs current() { return sets[current]; }

        int currentIndex() { return current; }

        /** Moves on to the next set (round robin) and returns its index. */
        int advance() {
            current = (current + 1) % sets.length;
            return current;
        }
    }

    /** Token embedding, smear and the first norm: x0, the stream every block mixes back in. */
    record Embedding(
            Tensor lookup,      // [T,C]    rows of the embedding table (lm_head while tied, embed after the split)
            Tensor smearGate,   // [T]      stat: σ(lookup[p,:G]·smear_gate)
            Tensor smeared,     // [T,C]    lookup[p] + smear_λ·smearGate[p]·lookup[p−1]
            Tensor x0Rrms,      // [T]      stat: 1/rms of smeared
            Tensor x0) {        // [T,C]    rmsNorm(smeared)
        Embedding at(int T) { return new Embedding(rows(lookup, T), rows(smearGate, T), rows(smeared, T), rows(x0Rrms, T), rows(x0, T)); }
    }

    /** The U-net skip from the skip-in layer to the skip-out layer's input. */
    record Skip(
            Tensor gate,        // [1]      stat: σ(skip_λ)
            Tensor merged) {    // [T,C]    out of the layer before skip-out + gate·out of skip-in
        Skip at(int T) { return new Skip(gate, rows(merged, T)); }
    }

    /** The attention branch of one block, saved by its forward. */
    record Attention(
            Tensor normRrms,    // [T]      stat: 1/rms of the block input
            Tensor norm,        // [T,C]    rmsNorm(block input); the head gates read its first G columns
            Tensor qkvIn,       // [T,C]    sa_λ0·norm, the input of the Q, K, V projections
            Tensor qProj,       // [T,H,D]  qkvIn·Wqᵀ
            Tensor kProj,       // [T,H,D]  qkvIn·Wkᵀ
            Tensor qRrms,       // [T,H]    stat: 1/rms of each head of qProj
            Tensor kRrms,       // [T,H]    stat: 1/rms of each head of kProj
            Tensor q,           // [T,H,D]  rotary(rmsNorm(qProj))
            Tensor k,           // [T,H,D]  rotary(rmsNorm(kProj)), key-shifted in long-window layers
            Tensor v,           // [T,H,D]  qkvIn·Wvᵀ (+ the layer's value embedding)
            Tensor lse,         // [H,T]    stat: log-sum-exp of the scaled scores (flat, viewed per T)
            Tensor attended,    // [T,H,D]  windowed causal attention of q, k, v within documents
            Tensor gate,        // [T,H]    stat: σ(norm[t,:G]·attn_gate[h])
            Tensor gated,       // [T,H,D]  gate·attended
            Tensor projIn,      // [T,H,D]  sa_λ1·gated, the input of the output projection
            Tensor out) {       // [T,C]    block input + projIn·Woᵀ
        Attention at(int T) {
            return new Attention(rows(normRrms, T), rows(norm, T), rows(qkvIn, T), rows(qProj, T), rows(kProj, T), rows(qRrms, T),
                    rows(kRrms, T), rows(q, T), rows(k, T), rows(v, T), lse.view(0, lse.dim(0), T), rows(attended, T), rows(gate, T),
                    rows(gated, T), rows(projIn, T), rows(out, T));
        }
    }

    /** One transformer block. */
    record Block(
            Tensor in,          // [T,C]    resid_λ·(previous block's out, or Skip.merged) + x0_λ·x0
            Attention attn,     //          null in the layer without attention
            Tensor mlpRrms,     // [T]      stat: 1/rms of the MLP input (attn.out, or in)
            Tensor mlpNorm,     // [T,C]    rmsNorm(MLP input)
            Tensor fc,          // [T,F]    mlpNorm·c_fcᵀ, before the activation
            Tensor act,         // [T,F]    relu²(fc)
            Tensor out) {       // [T,C]    MLP input + act·c_proj
        Block at(int T) {
            return new Block(rows(in, T), attn == null ? null : attn.at(T), rows(mlpRrms, T), rows(mlpNorm, T), rows(fc, T),
                    rows(act, T), rows(out, T));
        }

        /** The MLP's input: the attention branch's output, or the block input where there is none. */
        Tensor mlpIn() { return attn == null ? in : attn.out(); }
    }

    /** Backout, final norm, LM head, and the loss's scratch. */
    record Head(
            Tensor x,           // [T,C]    last block's out − backout_λ·out of the backout layer
            Tensor rrms,        // [T]      stat: 1/rms of x
            Tensor norm,        // [T,C]    rmsNorm(x), the LM head's input
            Tensor logits,      // [T,V]    raw head output z ([R,V], a chunk of rows, in a forward-only plan); in training the loss overwrites it with ∂L/∂z
            Tensor rowLosses,   // [T]      stat: loss scratch, per token ([R] in a forward-only plan)
            Tensor targetWeights, // [T]    stat: loss scratch, per target ([R] in a forward-only plan)
            Tensor total) {     // [1]      stat: loss scratch, the reduced loss
        Head at(int T) {
            return new Head(rows(x, T), rows(rrms, T), rows(norm, T), rows(logits, T), rows(rowLosses, T), rows(targetWeights, T), total);
        }
    }

    /**
     * The backward's scratch, ∂L/∂ of what each field is named after; reused by every layer (the
     * backward walks the layers one at a time). Parameter gradients live with the parameters.
     * The buffers that the backward zeroes before accumulating into them lie next to each other
     * (see {@link GradientSlab}), so that one {@code fill} of {@link #entryZero} starts the pass and
     * one of {@link #layerZero} starts each layer, instead of one fill per buffer.
     */
    record Gradients(
            Tensor stream,      // [T,C]    the residual stream at the current block's output (then its input)
            Tensor streamNext,  // [T,C]    the same one block further down (swapped with stream per block)
            Tensor x0,          // [T,C]    x0, summed over the blocks' x0_λ paths
            Tensor skip,        // [T,C]    out of the skip-in layer, through the skip
            Tensor backout,     // [T,C]    out of the backout layer, through the backout
            Tensor headX,       // [T,C]    Head.x
            Tensor headNorm,    // [T,C]    Head.norm
            Tensor smeared,     // [T,C]    Embedding.smeared
            Tensor lookup,      // [T,C]    Embedding.lookup
            Tensor skipGate,    // [1]      stat: Skip.gate
            Tensor attnNorm,    // [T,C]    Attention.norm
            Tensor qkvIn,       // [T,C]    Attention.qkvIn
            Tensor projIn,      // [T,H,D]  Attention.projIn
            Tensor gated,       // [T,H,D]  Attention.gated
            Tensor attended,    // [T,H,D]  Attention.attended
            Tensor q,           // [T,H,D]  Attention.q
            Tensor k,           // [T,H,D]  Attention.k
            Tensor v,           // [T,H,D]  Attention.v
            Tensor qProj,       // [T,H,D]  Attention.qProj
            Tensor kProj,       // [T,H,D]  Attention.kProj
            Tensor mlpNorm,     // [T,C]    Block.mlpNorm
            Tensor act,         // [T,F]    Block.act
            Tensor fc,          // [T,F]    Block.fc
            Tensor entryZero,   // [n]      one run of x0, skip, backout, headX, smeared, lookup and stream: zeroed as the pass begins
            Tensor layerZeroA,  // [n]      one run of stream and the per-layer group (fc, the attention branch's gradients but projIn, qkvIn)
            Tensor layerZeroB) {// [n]      one run of the per-layer group and streamNext
        /**
         * The run a layer of the backward zeroes as it begins: its accumulated scratch (fc and the
         * attention branch's) with the stream buffer the layer accumulates ∂/∂(its input) into.
         * @param next {@link #stream} or {@link #streamNext}, whichever the layer writes its input's gradient to
         */
        Tensor layerZero(Tensor next) {
            if (next == stream) return layerZeroA;
            if (next == streamNext) return layerZeroB;
            throw new IllegalArgumentException("layerZero: not one of the two stream buffers: " + next);
        }
    }

    /**
     * The backward's scratch of the activation dtype as one flat buffer, holding for a micro-batch
     * of T tokens the {@link Gradients} views packed one after another (each starting on an arena
     * alignment boundary), so that the buffers zeroed together form contiguous runs at every T:
     * (headNorm, act, mlpNorm, projIn, qkvIn: overwritten, never zeroed) then
     * [x0, skip, backout, headX, smeared, lookup, (stream, [fc, gated, attended, attnNorm, q, k, v,
     * kProj, qProj], streamNext)].
     */
    static final class GradientSlab {
        /** The packed buffers in order; the constants below index it. */
        private static final int HEAD_NORM = 0, ACT = 1, MLP_NORM = 2, PROJ_IN = 3, QKV_IN = 4,
                X0 = 5, SKIP = 6, BACKOUT = 7, HEAD_X = 8, SMEARED = 9, LOOKUP = 10,
                STREAM = 11, FC = 12, GATED = 13, ATTENDED = 14, ATTN_NORM = 15, Q = 16, K = 17, V = 18,
                Q_PROJ = 19, K_PROJ = 20, STREAM_NEXT = 21, COUNT = 22;

        private final Tensor flat, skipGate;
        /** Per buffer, its dims after the token dim. */
        private final long[][] cols = new long[COUNT][];

        /**
         * (Slab's sizing pass constructs one with null views and never uses it.)
         * @param flat     [n] activation dtype, n ≥ {@link #elements}(maxTokens, ...)
         * @param skipGate [1] stat
         */
        GradientSlab(Tensor flat, Tensor skipGate, long C, long H, long D, long F) {
            this.flat = flat;
            this.skipGate = skipGate;
            layoutCols(cols, C, H, D, F);
        }

        /** Elements of the flat buffer for micro-batches of up to {@code maxTokens} tokens. */
        static long elements(long maxTokens, int byteSize, long C, long H, long D, long F) {
            long[][] c = new long[COUNT][];
            layoutCols(c, C, H, D, F);
            return offsets(c, maxTokens, alignment(byteSize))[COUNT];
        }

        private static long alignment(int byteSize) { return Math.max(1, dev.speedrun.tensor.MemoryArena.ALIGN / byteSize); }

        private static void layoutCols(long[][] c, long C, long H, long D, long F) {
            for (int i : new int[] {HEAD_NORM, MLP_NORM, QKV_IN, X0, SKIP, BACKOUT, HEAD_X, SMEARED, LOOKUP, STREAM, ATTN_NORM, STREAM_NEXT})
                c[i] = new long[] {C};
            for (int i : new int[] {PROJ_IN, GATED, ATTENDED, Q, K, V, Q_PROJ, K_PROJ})
                c[i] = new long[] {H, D};
            c[ACT] = new long[] {F};
            c[FC] = new long[] {F};
        }

        /** Element offsets of the buffers for T tokens, and the end ([COUNT]). */
        private static long[] offsets(long[][] c, long T, long align) {
            long[] off = new long[COUNT + 1];
            for (int i = 0; i < COUNT; i++) {
                long n = T;
                for (long d : c[i]) n *= d;
                off[i + 1] = (off[i] + n + align - 1) / align * align;
            }
            return off;
        }

        /** The views for a micro-batch of T tokens. */
        Gradients at(int T) {
            long[] off = offsets(cols, T, alignment(flat.dtype().byteSize()));
            Tensor[] t = new Tensor[COUNT];
            for (int i = 0; i < COUNT; i++) {
                long[] dims = new long[cols[i].length + 1];
                dims[0] = T;
                System.arraycopy(cols[i], 0, dims, 1, cols[i].length);
                t[i] = flat.view(off[i], dims);
            }
            // each run ends where its last buffer ends (the alignment gap after it is not part of it)
            Tensor entry = run(off, T, X0, STREAM), a = run(off, T, STREAM, K_PROJ), b = run(off, T, FC, STREAM_NEXT);
            return new Gradients(t[STREAM], t[STREAM_NEXT], t[X0], t[SKIP], t[BACKOUT], t[HEAD_X], t[HEAD_NORM], t[SMEARED], t[LOOKUP],
                    skipGate, t[ATTN_NORM], t[QKV_IN], t[PROJ_IN], t[GATED], t[ATTENDED], t[Q], t[K], t[V],
                    t[Q_PROJ], t[K_PROJ], t[MLP_NORM], t[ACT], t[FC], entry, a, b);
        }

        /** Buffers first..last (inclusive) for T tokens as one [n] view, from first's start to last's end. */
        private Tensor run(long[] off, long T, int first, int last) {
            long n = T;
            for (long d : cols[last]) n *= d;
            return flat.view(off[first], off[last] + n - off[first]);
        }
    }
}
