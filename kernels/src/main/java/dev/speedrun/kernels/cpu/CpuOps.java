package dev.speedrun.kernels.cpu;

import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The reference backend of {@link Ops}: pure Java over host {@link MemorySegment}s. A thin facade:
 * each op lives in the class of its family, named like the section of {@link Ops} and the .cu
 * file of the CUDA backend ({@link CpuElementwise}, {@link CpuGemm}, {@link CpuEmbedding},
 * {@link CpuNorms}, {@link CpuRotary}, {@link CpuAttention}, {@link CpuGates}, {@link CpuLoss}, {@link CpuFused},
 * {@link CpuOptimizer}); each checks its arguments with {@link dev.speedrun.kernels.OpContract},
 * the checker the CUDA backend shares.
 *
 * <p>Floating tensors may be F64, F32 or BF16 (read as double, stored with round-to-nearest-even);
 * every reduction and every intermediate is a double. All-F32 calls take the Vector API kernels
 * of the family ({@code *Vector} classes) when the incubator module is present. Large loops run on
 * the kernels' own fork-join pool ({@link Par}); per-thread scratch arrays ({@link Scratch}) keep
 * the hot ops free of per-call allocations beyond a few small objects (segment views, lambdas).
 */
public final class CpuOps implements Ops {
    private final Backend backend;

    public CpuOps(Backend backend) { this.backend = backend; }

    @Override public Backend backend() { return backend; }

    // ------------------------------------------------------------------ elementwise

    @Override public void fill(Tensor out, double value) { CpuElementwise.fill(out, value); }

    @Override public void convert(Tensor out, Tensor x) { CpuElementwise.convert(out, x); }

    @Override public void add(Tensor out, Tensor x, Tensor y) { CpuElementwise.add(out, x, y); }

    @Override public void mix(Tensor out, Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb) {
        CpuElementwise.mix(out, x, a, ca, y, b, cb);
    }

    @Override public void mixBackward(Tensor dx, Tensor dy, Tensor da, Tensor db, Tensor dOut,
                                      Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb) {
        CpuElementwise.mixBackward(dx, dy, da, db, dOut, x, a, ca, y, b, cb);
    }

    @Override public void sigmoid(Tensor out, Tensor x) { CpuElementwise.sigmoid(out, x); }

    @Override public void sigmoidBackward(Tensor dx, Tensor dOut, Tensor y) { CpuElementwise.sigmoidBackward(dx, dOut, y); }

    @Override public void reluSquared(Tensor out, Tensor x) { CpuElementwise.reluSquared(out, x); }

    @Override public void reluSquaredBackward(Tensor dx, Tensor dOut, Tensor x) { CpuElementwise.reluSquaredBackward(dx, dOut, x); }

    @Override public void sum(Tensor out, Tensor x, boolean accumulate) { CpuElementwise.sum(out, x, accumulate); }

    @Override public void sumSquares(Tensor out, Tensor x, boolean accumulate) { CpuElementwise.sumSquares(out, x, accumulate); }

    @Override public void tokenMask(Tensor out, Tensor tokens, int value, double ifEqual, double otherwise) {
        CpuElementwise.tokenMask(out, tokens, value, ifEqual, otherwise);
    }

    // ------------------------------------------------------------------ gemm

    @Override public void quantizeFp8(Tensor out, Tensor x, Tensor scale) { CpuElementwise.quantizeFp8(out, x, scale); }

    @Override public void matmulFp8(Tensor out, Tensor a, DType aFormat, Tensor aScale, Tensor b, DType bFormat, Tensor bScale,
                                    boolean transA, boolean transB, double beta) {
        CpuGemm.matmulFp8(out, a, aFormat, aScale, b, bFormat, bScale, transA, transB, beta);
    }

    @Override public void matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta) {
        CpuGemm.matmul(out, a, b, transA, transB, alpha, beta);
    }

    // ------------------------------------------------------------------ fused

    @Override public void mixRmsNorm(Tensor out, Tensor norm, Tensor rrms, Tensor scaled, Tensor x, Tensor a, double ca, Tensor y,
                                     Tensor b, double cb, Tensor s) {
        CpuFused.mixRmsNorm(out, norm, rrms, scaled, x, a, ca, y, b, cb, s);
    }

    @Override public void rmsNormRotary(Tensor out, Tensor rrms, Tensor x, Tensor freqs, boolean keyShift) {
        CpuFused.rmsNormRotary(out, rrms, x, freqs, keyShift);
    }

    @Override public void rmsNormRotaryBackward(Tensor dx, Tensor dOut, Tensor x, Tensor rrms, Tensor freqs, boolean keyShift) {
        CpuFused.rmsNormRotaryBackward(dx, dOut, x, rrms, freqs, keyShift);
    }

    @Override public void headGateScaled(Tensor out, Tensor gate, Tensor scaled, Tensor y, Tensor x, Tensor w, Tensor s) {
        CpuFused.headGateScaled(out, gate, scaled, y, x, w, s);
    }

    @Override public void addEmbedding(Tensor out, Tensor x, Tensor table, Tensor tokens) { CpuFused.addEmbedding(out, x, table, tokens); }

    // ------------------------------------------------------------------ embedding

    @Override public void embedding(Tensor out, Tensor table, Tensor tokens) { CpuEmbedding.embedding(out, table, tokens); }

    @Override public void embeddingBackward(Tensor dTable, Tensor dOut, Tensor tokens) {
        CpuEmbedding.embeddingBackward(dTable, dOut, tokens);
    }

    // ------------------------------------------------------------------ norms

    @Override public void rmsNorm(Tensor out, Tensor rrms, Tensor x) { CpuNorms.rmsNorm(out, rrms, x); }

    @Override public void rmsNormBackward(Tensor dx, Tensor dOut, Tensor x, Tensor rrms) { CpuNorms.rmsNormBackward(dx, dOut, x, rrms); }

    // ------------------------------------------------------------------ rotary

    @Override public void rotary(Tensor out, Tensor x, Tensor freqs) { CpuRotary.rotary(out, x, freqs); }

    @Override public void rotaryBackward(Tensor dx, Tensor dOut, Tensor freqs) { CpuRotary.rotaryBackward(dx, dOut, freqs); }

    @Override public void keyShift(Tensor out, Tensor x) { CpuRotary.keyShift(out, x); }

    @Override public void keyShiftBackward(Tensor dx, Tensor dOut) { CpuRotary.keyShiftBackward(dx, dOut); }

    // ------------------------------------------------------------------ attention

    @Override public void attention(Tensor out, Tensor lse, Tensor q, Tensor k, Tensor v, Tensor cuSeqlens, int window, double scale) {
        CpuAttention.attention(out, lse, q, k, v, cuSeqlens, window, scale);
    }

    @Override public void attentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dOut, Tensor q, Tensor k, Tensor v,
                                            Tensor out, Tensor lse, Tensor cuSeqlens, int window, double scale) {
        CpuAttention.attentionBackward(dq, dk, dv, dOut, q, k, v, out, lse, cuSeqlens, window, scale);
    }

    // ------------------------------------------------------------------ gates

    @Override public void headGate(Tensor out, Tensor gate, Tensor y, Tensor x, Tensor w) { CpuGates.headGate(out, gate, y, x, w); }

    @Override public void headGateBackward(Tensor dy, Tensor dx, Tensor dw, Tensor dOut, Tensor y, Tensor x, Tensor w, Tensor gate) {
        CpuGates.headGateBackward(dy, dx, dw, dOut, y, x, w, gate);
    }

    @Override public void smear(Tensor out, Tensor gate, Tensor x, Tensor w, Tensor lambda) { CpuGates.smear(out, gate, x, w, lambda); }

    @Override public void smearBackward(Tensor dx, Tensor dw, Tensor dLambda, Tensor dOut, Tensor x, Tensor w, Tensor lambda, Tensor gate) {
        CpuGates.smearBackward(dx, dw, dLambda, dOut, x, w, lambda, gate);
    }

    // ------------------------------------------------------------------ loss

    @Override public void softcapCrossEntropy(Tensor losses, Tensor dLogits, Tensor logits, Tensor targets, Tensor targetWeights,
                                              double[] weights, double cap, double divisor, double gradScale) {
        CpuLoss.softcapCrossEntropy(losses, dLogits, logits, targets, targetWeights, weights, cap, divisor, gradScale);
    }

    // ------------------------------------------------------------------ optimizer

    @Override public void adamStep(Tensor p, Tensor g, Tensor m, Tensor v, double lr, double beta1, double beta2, double eps,
                                   long step, double decay, DecayMask mask) {
        CpuOptimizer.adamStep(p, g, m, v, lr, beta1, beta2, eps, step, decay, mask);
    }

    @Override public void muonMomentum(Tensor update, Tensor buf, Tensor g, double momentum) {
        CpuOptimizer.muonMomentum(update, buf, g, momentum);
    }

    @Override public void frobeniusNormalize(Tensor out, Tensor x, double factor, double eps) {
        CpuOptimizer.frobeniusNormalize(out, x, factor, eps);
    }

    @Override public void varianceReduce(Tensor v, Tensor s2, double beta2) { CpuOptimizer.varianceReduce(v, s2, beta2); }

    @Override public void decayedUpdate(Tensor p, Tensor v, double lr, double decay, DecayMask mask) {
        CpuOptimizer.decayedUpdate(p, v, lr, decay, mask);
    }
}
