package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Fixtures;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Finite differences in F64 on sampled entries of every parameter tensor of the whole model,
 * tied and split, with and without multi-token weights. Weights are dense random (the record's
 * zero initialisations would hide paths), with several documents and windows shorter than them.
 */
class GradientCheckTest {
    private static final int SAMPLES = 2;
    private static final double H = 1e-5;

    @ParameterizedTest(name = "split={0} mtp={1}")
    @CsvSource({"false, false", "false, true", "true, false", "true, true"})
    void wholeModelGradients(boolean split, boolean mtp) {
        // The fixture's sizes: the record's structure at a size that checks quickly.
        GptConfig cfg = TestSupport.config(Fixtures.json("model_tiny.json").get("config"));
        int T = 14;
        SplittableRandom rng = new SplittableRandom(split ? 7 : 11);
        int[] inputs = new int[T], targets = new int[T];
        for (int t = 0; t < T; t++) { inputs[t] = rng.nextInt(cfg.vocabSize()); targets[t] = rng.nextInt(cfg.vocabSize()); }
        inputs[5] = inputs[1]; // a repeated token: embedding gradients must accumulate
        int[] cu = {0, 5, 5, 12, T, T};
        int wsShort = 1, wsLong = 2; // windows of 2 and 4 tokens at the fixture's block size 2
        double[] w = mtp ? new double[] {1, 0.5, 0.25} : new double[] {1};
        double gradScale = 0.5;
        try (Gpt gpt = new Gpt(cfg, Kernels.cpu(), DType.F64, T, 1, 3)) {
            for (Parameter p : gpt.parameters()) {
                double[] v = new double[Math.toIntExact(p.value().numel())];
                double s = p.name().equals("scalars") || p.name().equals("x0_lambdas") ? 0.6 : 0.35;
                for (int i = 0; i < v.length; i++) v[i] = (2 * rng.nextDouble() - 1) * s + (p.name().equals("scalars") ? 0.6 : 0);
                HostData.write(p.value(), v);
            }
            gpt.setSplitEmbed(split);
            gpt.zeroGrads();
            gpt.forwardBackward(inputs, targets, cu, wsShort, wsLong, TestSupport.LOSS, w, gradScale);
            // snapshot every gradient first: the finite-difference passes accumulate into them
            java.util.Map<String, double[]> grads = new java.util.HashMap<>();
            for (Parameter p : gpt.parameters()) grads.put(p.name(), HostData.toDoubles(p.grad()));
            double worst = 0;
            java.util.List<String> failures = new java.util.ArrayList<>();
            for (Parameter p : gpt.parameters()) {
                double[] g = grads.get(p.name());
                Tensor flat = p.value().reshape(p.value().numel());
                int n = g.length;
                for (int s = 0; s < SAMPLES; s++) {
                    // favour entries of used rows for embedding tables (only tokens seen get gradients)
                    int idx = p.spec().rows() == cfg.vocabPadded() && s < 1
                            ? inputs[1] * (int) p.spec().cols() + rng.nextInt((int) p.spec().cols())
                            : rng.nextInt(n);
                    Tensor e = flat.view(idx, 1);
                    double orig = HostData.scalar(e);
                    HostData.write(e, new double[] {orig + H});
                    double lp = gpt.trainingLoss(inputs, targets, cu, wsShort, wsLong, TestSupport.LOSS, w, gradScale);
                    HostData.write(e, new double[] {orig - H});
                    double lm = gpt.trainingLoss(inputs, targets, cu, wsShort, wsLong, TestSupport.LOSS, w, gradScale);
                    HostData.write(e, new double[] {orig});
                    double fd = (lp - lm) / (2 * H);
                    double an = g[idx];
                    if (!p.hasGrad()) {
                        assertEquals(0.0, fd, 1e-9, p.name() + " is unused but the loss depends on it");
                        assertEquals(0.0, an, 0.0, p.name() + " has no gradient but its buffer was written");
                        continue;
                    }
                    double err = Math.abs(fd - an) / Math.max(1e-3, Math.abs(fd) + Math.abs(an)); // absolute floor: FD noise ~1e-9 at losses ~100
                    worst = Math.max(worst, err);
                    if (!(err < 1e-5)) failures.add(p.name() + "[" + idx + "]: analytic " + an + " vs finite difference " + fd);
                }
            }
            assertTrue(failures.isEmpty(), failures.size() + " mismatches:\n" + String.join("\n", failures));
            System.out.printf("gradient check split=%s mtp=%s: worst relative error %.3e%n", split, mtp, worst);
        }
    }
}
