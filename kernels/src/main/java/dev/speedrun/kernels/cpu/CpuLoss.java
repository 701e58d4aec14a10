package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.Acc.get;
import static dev.speedrun.kernels.cpu.Acc.set;

import dev.speedrun.kernels.OpContract;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The loss family of {@link CpuOps} (loss.cu on the GPU): soft-capped multi-token cross-entropy,
 * loss and gradient in one pass per row. All-F32 calls use {@link LossVector} for the row sweeps.
 */
final class CpuLoss {
    private CpuLoss() {}

    static void softcapCrossEntropy(Tensor losses, Tensor dLogits, Tensor logits, Tensor targets, Tensor targetWeights,
                                              double[] weights, double cap, double divisor, double gradScale) {
        OpContract.Logits sz = OpContract.softcapCrossEntropy(losses, dLogits, logits, targets, targetWeights, weights);
        int T = sz.T(), V = sz.V();
        CpuEmbedding.checkTokens("softcapCrossEntropy targets", targets, V);
        int K = weights.length;
        MemorySegment lss = losses.segment(), zs = logits.segment(), ts = targets.segment();
        MemorySegment ms = targetWeights == null ? null : targetWeights.segment();
        MemorySegment dzs = dLogits == null ? null : dLogits.segment();
        DType lsd = losses.dtype(), zd = logits.dtype(), md = targetWeights == null ? null : targetWeights.dtype();
        DType dzd = dLogits == null ? null : dLogits.dtype();
        double capOverDiv = cap / divisor;
        if (Vectors.f32(losses, dLogits, logits, targetWeights)) {
            float fcap = (float) cap, invDiv = (float) (1.0 / divisor);
            Par.forEach(T, 12L * V, p -> {
                float[] ell = Scratch.floats(Scratch.TASK, V), sg = Scratch.floats(Scratch.TASK + 1, V);
                double[] stats = Scratch.doubles(Scratch.TASK, 2);
                long row = (long) p * V;
                double lse = LossVector.softcapRow(zs, row, V, fcap, invDiv, sg, ell, stats);
                double coef = 0, loss = 0;
                for (int j = 0; j < K && p + j < T; j++) {
                    double wj = weights[j] * (ms == null ? 1.0 : get(ms, md, p + j));
                    coef += wj;
                    // the target's ℓ in double from z (the float ell only feeds the softmax)
                    loss += wj * (lse - cap * Acc.sigmoid(get(zs, zd, row + Acc.getInt(ts, p + j)) / divisor));
                }
                set(lss, lsd, p, loss);
                if (dzs == null) return;
                double k = gradScale * coef * capOverDiv;
                LossVector.softcapGrad(dzs, row, V, (float) (k / stats[1]), sg, ell);
                // target columns: dz = gradScale·(coef·P − Σ_{j: target j = c} w_j)·cap/div·s(1−s)
                for (int j = 0; j < K && p + j < T; j++) {
                    int c = Acc.getInt(ts, p + j);
                    double wsum = 0;
                    for (int i = 0; i < K && p + i < T; i++)
                        if (Acc.getInt(ts, p + i) == c) wsum += weights[i] * (ms == null ? 1.0 : get(ms, md, p + i));
                    double sv = sg[c];
                    set(dzs, dzd, row + c, gradScale * (coef * Math.exp(cap * sv - lse) - wsum) * capOverDiv * sv * (1 - sv));
                }
            });
            return;
        }
        Par.forEach(T, 12L * V, p -> {
            double[] ell = Scratch.doubles(Scratch.TASK, V), sg = Scratch.doubles(Scratch.TASK + 1, V);
            long row = (long) p * V;
            double mx = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < V; c++) {
                double s = Acc.sigmoid(get(zs, zd, row + c) / divisor);
                sg[c] = s;
                ell[c] = cap * s;
                if (ell[c] > mx) mx = ell[c];
            }
            double se = 0;
            for (int c = 0; c < V; c++) se += Math.exp(ell[c] - mx);
            double lse = mx + Math.log(se);
            double coef = 0, loss = 0;
            for (int j = 0; j < K && p + j < T; j++) {
                double wj = weights[j] * (ms == null ? 1.0 : get(ms, md, p + j));
                coef += wj;
                loss += wj * (lse - ell[Acc.getInt(ts, p + j)]);
            }
            set(lss, lsd, p, loss);
            if (dzs == null) return;
            // dℓ = coef·softmax − Σ_j w_j·onehot(target_j); dz = dℓ·cap/div·s(1−s)
            for (int c = 0; c < V; c++) ell[c] = coef * Math.exp(ell[c] - lse);
            for (int j = 0; j < K && p + j < T; j++)
                ell[Acc.getInt(ts, p + j)] -= weights[j] * (ms == null ? 1.0 : get(ms, md, p + j));
            for (int c = 0; c < V; c++) set(dzs, dzd, row + c, gradScale * ell[c] * capOverDiv * sg[c] * (1 - sg[c]));
        });
    }

}
