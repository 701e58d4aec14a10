package dev.speedrun.kernels;

import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.util.Optional;

/**
 * The op contract: every numeric operation the model (spec §2, §4) and the optimizers (§5) need.
 * Each backend implements all of it with the same semantics; model code never knows which runs.
 *
 * <p>Conventions (binding for every backend):
 * <ul>
 *   <li>Outputs first, then inputs, then sizes. Shapes are documented per argument; sizes are read
 *       from the tensors' shapes. All tensors are contiguous row-major views.</li>
 *   <li>Forward ops <b>overwrite</b> their outputs. Backward ops <b>accumulate</b> ({@code +=}) into
 *       every gradient they produce (input and parameter gradients alike), as in llm.c, so residual
 *       branches simply add; callers zero gradient buffers when a pass begins. A <b>BF16 parameter
 *       gradient</b> (the embedding, head-gate and smear-gate weights' in mixed precision) receives
 *       the call's contribution summed in at least F32 and rounded to BF16 once, then added with
 *       one more rounding: the record's BF16 gradient of one backward added into its accumulated
 *       BF16 {@code .grad}.</li>
 *   <li>A forward op may run in place ({@code out == x}) where its doc says so.</li>
 *   <li>Activations are F32 or F64 on CPU (BF16 on GPU); the dtype of saved statistics
 *       ({@code rrms}, {@code lse}, gates) is F32, or F64 when activations are F64. Reductions
 *       accumulate in at least F32 (F64 in the CPU reference ops; the CPU F32 GEMM accumulates
 *       in F32 like a GPU GEMM, for speed).</li>
 *   <li>Scalar parameters ({@code scalars} entries, shape [1]) are passed as tensors so that GPU
 *       code never reads them back to the host; {@code null} for such a coefficient means 1.</li>
 *   <li>Token ids, targets and {@code cu_seqlens} are I32.</li>
 *   <li>Every backend checks the arguments with {@link OpContract} first, so a call is rejected
 *       the same way (same message) on each. A one-dimensional shape ([N], [T], [G], [1]) accepts
 *       any shape of that many elements unless the parameter says "exactly"; shapes of two or
 *       more dimensions are exact.</li>
 * </ul>
 */
public interface Ops {

    Backend backend();

    /**
     * Why {@link #matmulFp8} would not run on FP8 hardware on this backend (one sentence: e.g. a GPU
     * below compute capability 8.9, or no cuBLASLt), or empty where it does. The op still computes
     * its products everywhere; the model asks this to choose between the record's FP8 LM head and
     * a BF16 one. The CPU backend answers empty: it computes the same quantised products in
     * software (the reference the GPU path is tested against).
     */
    default Optional<String> fp8Unavailable() { return Optional.empty(); }

    // ------------------------------------------------------------------ elementwise helpers

    /** {@code out[...] = value}; out any shape, floating or I32 (then value must be an int). */
    void fill(Tensor out, double value);

    /** {@code out = x}, converting dtype (F64/F32/BF16) with round-to-nearest-even; out, x [N]. */
    void convert(Tensor out, Tensor x);

    /** {@code out = x + y}; out, x, y [N]; in place allowed. */
    void add(Tensor out, Tensor x, Tensor y);

    /**
     * Weighted sum {@code out = ca·a·x + cb·b·y}.
     * @param out [N] (any shape of numel N); may alias x or y
     * @param x   [N]
     * @param a   [1] scalar tensor, or null for 1
     * @param ca  host constant multiplying a
     * @param y   [N] or null (then the second term is absent)
     * @param b   [1] scalar tensor, or null for 1
     * @param cb  host constant multiplying b
     */
    void mix(Tensor out, Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb);

    /**
     * Backward of {@link #mix}: {@code dx += ca·a·dOut}, {@code dy += cb·b·dOut},
     * {@code da += ca·Σ dOut·x}, {@code db += cb·Σ dOut·y}. Any of dx, dy, da, db may be null
     * (not wanted); da must be null when a is null (and likewise db/b).
     * @param dx [N], dy [N], da [1], db [1], dOut [N], x [N] and y [N] the forward inputs
     */
    void mixBackward(Tensor dx, Tensor dy, Tensor da, Tensor db, Tensor dOut,
                     Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb);

    /** {@code out = σ(x)} elementwise, logistic sigmoid; out, x [N]; in place allowed. */
    void sigmoid(Tensor out, Tensor x);

    /** {@code dx += dOut · y · (1 − y)} with {@code y = σ(x)} the forward output; dx, dOut, y [N]. */
    void sigmoidBackward(Tensor dx, Tensor dOut, Tensor y);

    /** {@code out = relu(x)²}; out, x [N]. */
    void reluSquared(Tensor out, Tensor x);

    /** {@code dx += dOut · 2·relu(x)}; dx, dOut, x [N]. */
    void reluSquaredBackward(Tensor dx, Tensor dOut, Tensor x);

    /**
     * Per-tensor scaled FP8 quantisation (the record's {@code x.div(s).to(float8)}):
     * {@code out[i] = fp8(x[i] / scale[0])}, the quotient computed in F32 (x widened exactly), then
     * rounded to nearest even into out's format with saturation to its largest finite value
     * (±448 for E4M3, ±57344 for E5M2), subnormals kept, NaN staying NaN.
     * @param out   [N] FP8_E4M3 or FP8_E5M2
     * @param x     [N] floating
     * @param scale [1] F32, the dequantisation factor s (so out·s ≈ x)
     */
    void quantizeFp8(Tensor out, Tensor x, Tensor scale);

    /** {@code out[0] = Σ x} (or += when accumulate); out [1], x [N]. */
    void sum(Tensor out, Tensor x, boolean accumulate);

    /** {@code out[0] = Σ x²} (or += when accumulate); out [1], x [N]. */
    void sumSquares(Tensor out, Tensor x, boolean accumulate);

    /**
     * {@code out[i] = tokens[i] == value ? ifEqual : otherwise}; builds per-target weights
     * (e.g. a BOS mask) for {@link #softcapCrossEntropy}.
     * @param out [T] float, tokens [T] I32
     */
    void tokenMask(Tensor out, Tensor tokens, int value, double ifEqual, double otherwise);

    // ------------------------------------------------------------------ GEMM

    /**
     * {@code out = alpha · op(a) · op(b) + beta · out}, op = transpose when the flag is set.
     * 2-D: a [M,K] ([K,M] if transA), b [K,N] ([N,K] if transB), out [M,N].
     * 3-D (strided batch): the same with a leading batch dimension B on all three.
     * With beta = 0 out is overwritten (its old contents, even NaN, are ignored).
     * Mixed dtypes are allowed where a backend supports them (BF16 a/b into F32 out on GPU).
     * out must not overlap a or b.
     */
    void matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta);

    /**
     * The record's FP8 GEMM ({@code torch._scaled_mm} of the LM head): both operands quantised per
     * tensor as {@link #quantizeFp8} does ({@code qa = fp8_aFormat(a / aScale)},
     * {@code qb = fp8_bFormat(b / bScale)}), then
     * {@code out = aScale·bScale·op(qa)·op(qb) + beta·out} with F32 accumulation over the exact
     * FP8 values and one rounding into out. With beta = 0 out is overwritten (even NaN ignored).
     * 2-D only; out must not overlap a or b.
     * @param out     [M,N] F32 or BF16 (F64 on CPU)
     * @param a       [M,K] ([K,M] if transA) floating
     * @param aFormat FP8_E4M3 or FP8_E5M2, the format a is quantised to
     * @param aScale  [1] F32, a's dequantisation factor
     * @param b       [K,N] ([N,K] if transB) floating
     * @param bFormat FP8_E4M3 or FP8_E5M2 (not E5M2 for both: no FP8 tensor core takes E5M2·E5M2)
     * @param bScale  [1] F32, b's dequantisation factor
     */
    void matmulFp8(Tensor out, Tensor a, DType aFormat, Tensor aScale, Tensor b, DType bFormat, Tensor bScale,
                   boolean transA, boolean transB, double beta);

    // ------------------------------------------------------------------ embedding

    /** {@code out[t] = table[tokens[t]]}; out [T,C], table [V,C], tokens [T] I32. */
    void embedding(Tensor out, Tensor table, Tensor tokens);

    /**
     * {@code dTable[tokens[t]] += dOut[t]}; dTable [V,C], dOut [T,C], tokens [T]. A BF16 dTable is
     * a parameter gradient: each row gets {@code bf16(Σ over its tokens)} added (see the class doc),
     * never a per-token BF16 addition.
     */
    void embeddingBackward(Tensor dTable, Tensor dOut, Tensor tokens);

    // ------------------------------------------------------------------ normalisation

    /**
     * RMS norm without weights over the last axis: {@code out = x / sqrt(mean(x²) + eps)},
     * eps = machine epsilon of out's dtype; saves {@code rrms[r] = 1/sqrt(mean(x[r]²)+eps)}.
     * @param out [R,C], or any shape of x's numel (may alias x, but the backward needs x: alias only
     *            where no backward follows)
     * @param rrms [R], or any shape of R elements
     * @param x [R,C]; a leading [..] of more dims is flattened into the R rows
     */
    void rmsNorm(Tensor out, Tensor rrms, Tensor x);

    /**
     * {@code dx += rrms·(dOut − y·mean(dOut·y))} with {@code y = x·rrms}.
     * @param dx [R,C], dOut [R,C] (or any shape of x's numel), x [R,C] forward input, rrms [R]
     */
    void rmsNormBackward(Tensor dx, Tensor dOut, Tensor x, Tensor rrms);

    // ------------------------------------------------------------------ rotary and key shift

    /**
     * Half-truncated rotary at positions p = 0..T−1 of the packed batch, with θ[p,j] = p·freqs[j]:
     * for u = x[..., :D/2], w = x[..., D/2:]: {@code out = [u cosθ + w sinθ, −u sinθ + w cosθ]}.
     * @param out [T,H,D] (may alias x), x [T,H,D], freqs [D/2] (F32 or F64; YaRN-updated)
     */
    void rotary(Tensor out, Tensor x, Tensor freqs);

    /** Backward of {@link #rotary} (rotation by −θ): {@code dx += R(−θ)·dOut}; dx, dOut [T,H,D]. */
    void rotaryBackward(Tensor dx, Tensor dOut, Tensor freqs);

    /**
     * Key shift of the long-window layers: for p ≥ 1 the dims [D/4, D/2) and [3D/4, D) of
     * out[p] take x[p−1]; all other entries (and all of p = 0) are copied from x.
     * @param out [T,H,D] (must not alias x), x [T,H,D]
     */
    void keyShift(Tensor out, Tensor x);

    /** Backward of {@link #keyShift}: dx += Sᵀ·dOut; dx, dOut [T,H,D]. */
    void keyShiftBackward(Tensor dx, Tensor dOut);

    // ------------------------------------------------------------------ fused

    /**
     * A {@link #mix} followed by the {@link #rmsNorm} of its result, in one pass (one kernel on a
     * GPU): {@code out = ca·a·x + cb·b·y}, stored in out's dtype, and then the rows of that
     * <b>stored</b> (rounded) out normalised: {@code norm = out / sqrt(mean(out²) + eps)},
     * {@code rrms[r] = 1/sqrt(mean(out[r]²) + eps)}, eps = machine epsilon of norm's dtype.
     * Bit for bit the two unfused ops {@code mix(out, x, a, ca, y, b, cb); rmsNorm(norm, rrms, out)}
     * on every backend. The residual adds of the blocks ({@code a = b = null, ca = cb = 1}) are
     * the case of {@link #add}. With {@code scaled} given, also {@code scaled = s·norm} from the
     * stored norm (the attention's Q/K/V input sa_λ0·norm), bit for bit
     * {@code mix(scaled, norm, s, 1, null, null, 0)} after the two.
     * @param out  [R,C] the mix (the residual stream), rows normalised over C; may alias x or y
     * @param norm [R,C] (or any shape of R·C elements); must not alias out, x or y
     * @param rrms [R] (or any shape of R elements), saved for {@link #rmsNormBackward}
     * @param scaled [R·C] or null (not wanted); must not alias out, norm, x or y
     * @param x    [R·C]
     * @param a    [1] scalar tensor, or null for 1
     * @param ca   host constant multiplying a
     * @param y    [R·C] or null (then the second term is absent)
     * @param b    [1] scalar tensor, or null for 1
     * @param cb   host constant multiplying b
     * @param s    [1] scalar tensor multiplying norm into scaled, or null for 1 (must be null without scaled)
     */
    void mixRmsNorm(Tensor out, Tensor norm, Tensor rrms, Tensor scaled, Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb,
                    Tensor s);

    /**
     * The per-head query/key norm and rotary of an attention layer in one pass (one kernel on a
     * GPU): each [D] head row of x normalised as {@link #rmsNorm} does, stored in out's dtype,
     * that stored value rotated by {@link #rotary}, and with {@code keyShift} the result
     * key-shifted as {@link #keyShift} does. Bit for bit the unfused
     * {@code rmsNorm(n, rrms, x as [T·H, D]); rotary(r, n, freqs); keyShift(out, r)} (or
     * {@code rotary(out, n, freqs)} without the shift) with n, r buffers of out's dtype.
     * @param out      [T,H,D] (must not alias x)
     * @param rrms     [T·H] (or any shape of T·H elements): 1/rms of each head row of x, unshifted
     * @param x        [T,H,D] the projection (qProj or kProj)
     * @param freqs    [D/2] (F32 or F64)
     * @param keyShift whether to apply the key shift (D a multiple of 4)
     */
    void rmsNormRotary(Tensor out, Tensor rrms, Tensor x, Tensor freqs, boolean keyShift);

    /**
     * Backward of {@link #rmsNormRotary} in one pass: {@code dx +=} the {@link #rmsNormBackward}
     * (per [D] head row, with the saved rrms) of {@code r = rotaryBackward(s)}, where
     * {@code s = keyShiftBackward(dOut)} with {@code keyShift}, else dOut. Bit for bit the unfused
     * {@code keyShiftBackward(s, dOut); rotaryBackward(r, s, freqs); rmsNormBackward(dx, r, x, rrms)}
     * (rows [T·H, D]) with s and r zeroed buffers of dx's dtype.
     * @param dx       [T,H,D] accumulated (must not alias dOut)
     * @param dOut     [T,H,D] ∂/∂out of the forward
     * @param x        [T,H,D] the forward input
     * @param rrms     [T·H] (or any shape of T·H elements), saved by the forward
     * @param freqs    [D/2] (F32 or F64)
     * @param keyShift whether the forward applied the key shift
     */
    void rmsNormRotaryBackward(Tensor dx, Tensor dOut, Tensor x, Tensor rrms, Tensor freqs, boolean keyShift);

    /**
     * {@link #embedding} added to x in one pass (the value embeddings' {@code v += ve}):
     * {@code out[t] = x[t] + e[t]} with {@code e[t] = table[tokens[t]]} stored in out's dtype
     * first. Bit for bit {@code embedding(e, table, tokens); add(out, x, e)} with e a buffer of
     * out's dtype. The backward is {@link #embeddingBackward} (and x's gradient is out's).
     * @param out    [T,C] (may alias x)
     * @param x      [T,C]
     * @param table  [V,C]
     * @param tokens [T] I32, ids in [0, V)
     */
    void addEmbedding(Tensor out, Tensor x, Tensor table, Tensor tokens);

    /**
     * {@link #headGate} with a scalar multiple of its output in the same pass (the attention's
     * output-projection input {@code projIn = sa_λ1·gated}): out and gate as headGate writes them,
     * and {@code scaled = s·out} from the stored out. Bit for bit
     * {@code headGate(out, gate, y, x, w); mix(scaled, out, s, 1, null, null, 0)}.
     * @param out    [T,H,D] (must not alias y, x or scaled: the backward reads y)
     * @param gate   [T,H] saved gate values
     * @param scaled [T,H,D]
     * @param y      [T,H,D] attention output
     * @param x      [T,C] (C ≥ G); only its first G columns are read
     * @param w      [H,G] attn_gate.weight
     * @param s      [1] scalar tensor, or null for 1
     */
    void headGateScaled(Tensor out, Tensor gate, Tensor scaled, Tensor y, Tensor x, Tensor w, Tensor s);

    // ------------------------------------------------------------------ attention

    /**
     * Causal sliding-window attention over packed documents. Query p of the document
     * [cu[d], cu[d+1]) attends to keys max(cu[d], p − window) .. p (inclusive); documents
     * never see each other; empty documents (cu[d] == cu[d+1], the padding) are skipped.
     * Scores are {@code scale · q·k}; softmax is computed online (streaming over keys), so memory
     * does not grow with T².
     * @param out      [T,H,D]
     * @param lse      [H,T] saved log-sum-exp of the scaled scores, for the backward
     * @param q        [T,H,D]
     * @param k        [T,H,D]
     * @param v        [T,H,D]
     * @param cuSeqlens [S] I32 (S ≥ 1), non-decreasing, cu[0] = 0, last = T (padded with T)
     * @param window   window in tokens (≥ 0)
     * @param scale    softmax scale (YaRN attn_scale)
     */
    void attention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, int window, double scale);

    /**
     * Backward of {@link #attention} (flash-attention-2 style, recomputing probabilities from
     * lse): accumulates into dq, dk, dv [T,H,D].
     * @param dOut [T,H,D], out [T,H,D] the forward output, lse [H,T]
     */
    void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
                           Tensor out, Tensor lse, Tensor cuSeqlens, int window, double scale);

    // ------------------------------------------------------------------ gates

    /**
     * Attention head gate: {@code gate[t,h] = σ(x[t, :G] · w[h])}, {@code out[t,h,:] = y[t,h,:]·gate[t,h]}.
     * @param out  [T,H,D] (may alias y where no backward follows: the backward reads y)
     * @param gate [T,H] saved gate values
     * @param y    [T,H,D] attention output
     * @param x    [T,C] the attention's input (C ≥ G); only its first G columns are read
     * @param w    [H,G] attn_gate.weight
     */
    void headGate(Tensor out, Tensor gate, Tensor y, Tensor x, Tensor w);

    /**
     * Backward of {@link #headGate}: {@code dy += dOut·gate}; with
     * {@code g' = Σ_d dOut·y · gate(1−gate)}: {@code dw[h] += Σ_t g'[t,h]·x[t,:G]},
     * {@code dx[t,:G] += Σ_h g'[t,h]·w[h]}.
     * @param dy [T,H,D], dx [T,C], dw [H,G]; dOut [T,H,D]; y, x, w, gate as in the forward
     */
    void headGateBackward(Tensor dy, Tensor dx, Tensor dw, Tensor dOut, Tensor y, Tensor x, Tensor w, Tensor gate);

    /**
     * Smear: {@code gate[p] = σ(x[p,:G]·w)} and for p ≥ 1
     * {@code out[p] = x[p] + λ·gate[p]·x[p−1]}; {@code out[0] = x[0]} (gate[0] is still written).
     * Crosses document boundaries, as the record does.
     * @param out [T,C] (must not alias x), gate [T], x [T,C], w [G] (smear_gate.weight viewed flat),
     *            lambda [1]
     */
    void smear(Tensor out, Tensor gate, Tensor x, Tensor w, Tensor lambda);

    /**
     * Backward of {@link #smear}; accumulates into dx [T,C], dw [G], dLambda [1].
     * @param dOut [T,C]; x, w, lambda, gate as in the forward
     */
    void smearBackward(Tensor dx, Tensor dw, Tensor dLambda, Tensor dOut, Tensor x, Tensor w, Tensor lambda, Tensor gate);

    // ------------------------------------------------------------------ loss

    /**
     * Soft-capped cross-entropy with multi-token weights, loss and gradient in one pass.
     * {@code ℓ = cap·σ(z/divisor)}; for each row p and j < K with p + j < T:
     * term {@code w_j · m[p+j] · (logsumexp(ℓ[p]) − ℓ[p, targets[p+j]])}, where m = targetWeights
     * (1 when null). {@code losses[p]} = Σ_j of those terms. When dLogits is not null it receives
     * {@code gradScale · ∂(Σ_p losses[p])/∂z} (overwritten; may alias logits, which is then
     * consumed). All V columns (including vocabulary padding) take part in the softmax.
     * @param losses        [T] per-row loss (F32/F64)
     * @param dLogits       [T,V] or null
     * @param logits        [T,V] raw head output z
     * @param targets       [T] I32
     * @param targetWeights [T] or null
     * @param weights       K multi-token weights (w[0] for the next token)
     * @param cap           soft cap (30)
     * @param divisor       divisor inside the sigmoid (7.5)
     * @param gradScale     scale of the gradient (1/grad_accum in training)
     */
    void softcapCrossEntropy(Tensor losses, Tensor dLogits, Tensor logits, Tensor targets, Tensor targetWeights,
                             double[] weights, double cap, double divisor, double gradScale);

    // ------------------------------------------------------------------ optimizer kernels

    /**
     * One Adam step (spec §5), elementwise on a parameter (or a shard of one):
     * {@code m = β1 m + (1−β1) g; v = β2 v + (1−β2) g²;
     * u = m/(√v+eps) · lr·√(1−β2ᵗ)/(1−β1ᵗ)}; decay mask per {@code mask} on {@code u·p};
     * {@code u += p·mask·decay; p −= u}. m and v may be BF16, F32 or F64 (math in ≥ F32).
     * @param p [N] parameter; g [N] gradient; m [N], v [N] moments
     * @param lr    effective lr (group lr × lr_mul × schedule multiplier)
     * @param step  t ≥ 1, the step count after this step, for bias correction
     * @param decay the decay coefficient (spec: lr·wd·wd_mul·lr); 0 for none
     */
    void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps,
                  long step, double decay, DecayMask mask);

    /**
     * Muon momentum with the Nesterov mix: {@code buf = m·buf + (1−m)·g;
     * update = (1−m)·g + m·buf}.
     * @param update [N] (may alias g), buf [N] (F32/F64 state), g [N]
     */
    void muonMomentum(Tensor update, Tensor buf, Tensor g, double momentum);

    /**
     * {@code out[b] = x[b] / (‖x[b]‖_F · factor + eps)} for each matrix b of a batch.
     * @param out [B,R,C] or [R,C] (may alias x), x same shape
     */
    void frobeniusNormalize(Tensor out, Tensor x, double factor, double eps);

    /**
     * NorMuon variance reduction, per matrix b and row r of v (in place):
     * {@code μ[r] = mean_c v²; n = sqrt(Σ_r μ·C); s2 ← s2 + (1−β2)(μ − s2);
     * ρ = rsqrt(max(s2, 1e-10)); n' = sqrt(Σ_r μ·C·ρ²); v[r] *= ρ[r]·n/max(n', 1e-10)}.
     * @param v  [B,R,C] or [R,C] orthogonalised update
     * @param s2 exactly [B,R] or [R] (as v is 3-D or 2-D), second-moment state (F32/F64)
     */
    void varianceReduce(Tensor v, Tensor s2, double beta2);

    /**
     * Update with weight decay: {@code p ← p − p·mask·decay − v·lr} where mask per
     * {@code mask} on {@code v·p} (NorMuon, spec §5.5).
     * @param p [N], v [N]; lr = lr_eff; decay = wd·wd_mul·lr·lr_eff
     */
    void decayedUpdate(Tensor p, Tensor v, double lr, double decay, DecayMask mask);
}
