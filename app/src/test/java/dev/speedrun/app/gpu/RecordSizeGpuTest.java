package dev.speedrun.app.gpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.Ops;
import dev.speedrun.losses.LossFunctions;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.Parameter;
import dev.speedrun.model.Precision;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Smoke test at the record's size: the record178 model in mixed precision, one forward+backward
 * of 16384 random tokens in four documents on the GPU. At initialisation the head's outputs are
 * tiny (lm_head ~ N(0, 0.005²)), so the soft-capped logits are nearly equal and the loss per token
 * is ln(V) for the padded vocabulary V (ln 50304 ≈ 10.83); ±0.5 covers the spread the small
 * logits add. Every gradient must be finite (sum of squares on the device) and the matrices that
 * read non-zero activations (lm_head, qkvo through its output rows, c_proj) must get a non-zero
 * gradient (c_fc and the q/k/v rows see zero gradients at init: c_proj and W_o start at zero).
 */
@Tag("gpu")
@Timeout(value = 240, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RecordSizeGpuTest {
    static final int T = 16384;

    @Test void oneStepAtRecordSize() {
        Ops ops = GpuModelSupport.cudaOrSkip();
        GptConfig cfg = GptConfig.preset("record178");
        SplittableRandom r = new SplittableRandom(178);
        int[] in = new int[T], tg = new int[T];
        for (int i = 0; i < T; i++) { in[i] = r.nextInt(cfg.vocabSize()); tg[i] = r.nextInt(cfg.vocabSize()); }
        int[] cu = {0, 3000, 9000, 12000, T};
        try (Gpt gpt = new Gpt(cfg, ops, Precision.MIXED, T, 1, 1234);
             MemoryArena scratch = ops.backend().newArena()) {
            long t0 = System.nanoTime();
            double loss = gpt.forwardBackward(in, tg, cu, 3, 7, LossFunctions.defaultLoss(), new double[] {1.0}, 1.0) / T;
            ops.backend().synchronize();
            double ms = (System.nanoTime() - t0) / 1e6;
            double lnV = Math.log(cfg.vocabPadded());
            System.out.printf("[gpu] record178 mixed, %d tokens: loss %.4f (ln V = %.4f), first step %.0f ms, %d MiB of model buffers%n",
                    T, loss, lnV, ms, gpt.allocatedBytes() >> 20);
            assertTrue(Double.isFinite(loss) && Math.abs(loss - lnV) <= 0.5, "loss per token " + loss + " is not near ln V = " + lnV);
            Tensor ss = scratch.allocate(DType.F32, 1);
            for (Parameter p : gpt.parameters()) {
                if (!p.hasGrad()) continue;
                ops.sumSquares(ss, p.grad(), false);
                double v = HostData.scalar(ss);
                assertTrue(Double.isFinite(v), p.name() + ": gradient has NaN or infinity (sum of squares " + v + ")");
                if (p.label().equals("lm_head") || p.label().equals("attn") || p.name().endsWith("c_proj"))
                    assertTrue(v > 0, p.name() + ": gradient is all zero");
            }
        }
    }
}
