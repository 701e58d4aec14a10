package com.example.bosmask;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.losses.LossBatch;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The masked loss equals the plain per-row losses with the post-BOS targets left out. */
class BosMaskLossTest {
    static final int T = 12, V = 16, BOS = 15;

    @Test void dropsExactlyTheTermsAfterBos() {
        Ops ops = Kernels.cpu();
        try (MemoryArena a = ops.backend().newArena()) {
            Random rnd = new Random(1);
            double[] z = new double[T * V];
            for (int i = 0; i < z.length; i++) z[i] = rnd.nextGaussian() * 3;
            int[] inputs = new int[T], targets = new int[T];
            for (int i = 0; i < T; i++) { inputs[i] = rnd.nextInt(BOS); targets[i] = rnd.nextInt(V); }
            inputs[0] = BOS; inputs[5] = BOS;
            double[] w = {1.0, 0.5};
            Tensor logits = a.allocate(DType.F64, T, V), dl = a.allocate(DType.F64, T, V), in = a.allocate(DType.I32, T),
                    tg = a.allocate(DType.I32, T), rows = a.allocate(DType.F64, T), tw = a.allocate(DType.F64, T), tot = a.allocate(DType.F64, 1);
            HostData.write(in, inputs);
            HostData.write(tg, targets);
            // expected: per-(row, j) plain terms with weights only where the target's input is not BOS
            double expect = 0;
            for (int j = 0; j < w.length; j++) {
                HostData.write(logits, z);
                double[] only = new double[w.length];
                only[j] = w[j];
                ops.softcapCrossEntropy(rows, null, logits, tg, null, only, 30, 7.5, 1.0);
                double[] r = HostData.toDoubles(rows);
                for (int p = 0; p + j < T; p++) if (inputs[p + j] != BOS) expect += r[p];
            }
            HostData.write(logits, z);
            double got = new BosMaskLoss(BOS).trainStep(new LossBatch(ops, logits, dl, in, tg, rows, tw, tot, w, 30, 7.5), 1.0);
            assertEquals(expect, got, 1e-9 * Math.abs(expect));
            HostData.write(logits, z);
            double plain = new dev.speedrun.losses.SoftcapCrossEntropy().trainStep(new LossBatch(ops, logits, dl, in, tg, rows, tw, tot, w, 30, 7.5), 1.0);
            assertTrue(plain > got, "the mask removes terms");
        }
    }
}
