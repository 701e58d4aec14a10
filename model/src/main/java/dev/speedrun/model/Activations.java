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

    /** Forward scratch shared by the attention layers; not read by the backward. */
    record AttentionScratch(
            Tensor kUnshifted,  // [T,H,D]  rotary(rmsNorm(kProj)) before the key shift (long-window layers)
            Tensor valueEmbed) {// [T,C]    value-embedding rows of the tokens
        AttentionScratch at(int T) { return new AttentionScratch(rows(kUnshifted, T), rows(valueEmbed, T)); }
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
            Tensor kUnshifted,  // [T,H,D]  keys before the key shift
            Tensor preRotary,   // [T,H,D]  queries or keys before the rotary (one at a time)
            Tensor qProj,       // [T,H,D]  Attention.qProj
            Tensor kProj,       // [T,H,D]  Attention.kProj
            Tensor mlpNorm,     // [T,C]    Block.mlpNorm
            Tensor act,         // [T,F]    Block.act
            Tensor fc) {        // [T,F]    Block.fc
        Gradients at(int T) {
            return new Gradients(rows(stream, T), rows(streamNext, T), rows(x0, T), rows(skip, T), rows(backout, T), rows(headX, T),
                    rows(headNorm, T), rows(smeared, T), rows(lookup, T), skipGate, rows(attnNorm, T), rows(qkvIn, T), rows(projIn, T),
                    rows(gated, T), rows(attended, T), rows(q, T), rows(k, T), rows(v, T), rows(kUnshifted, T), rows(preRotary, T),
                    rows(qProj, T), rows(kProj, T), rows(mlpNorm, T), rows(act, T), rows(fc, T));
        }
    }
}
