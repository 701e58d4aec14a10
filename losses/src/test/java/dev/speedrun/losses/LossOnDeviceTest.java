package dev.speedrun.losses;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Fixtures;
import org.junit.jupiter.api.Test;

/**
 * {@link LossFunction#trainStepOnDevice}: the loss added to a device tensor instead of returned.
 * The cross-entropy's own implementation (a device sum) and the SPI's default (the host path, for
 * plugins) both give, over two micro-batches, the sum of what {@link LossFunction#trainStep}
 * returns unscaled, and the same gradient; against mtp_loss.json's logits and targets.
 */
class LossOnDeviceTest {
    /** A loss that only implements the required methods: it gets the SPI's default. */
    private record HostOnly(LossFunction inner) implements LossFunction {
        @Override public String name() { return "host-only"; }

        @Override public double trainStep(LossBatch batch, double gradScale) { return inner.trainStep(batch, gradScale); }

        @Override public double evaluate(LossBatch batch) { return inner.evaluate(batch); }
    }

    @Test void deviceSumEqualsTheReturnedLosses() {
        JsonNode fx = Fixtures.json("mtp_loss.json");
        JsonNode raw = fx.get("raw_logits");
        int T = raw.size(), V = raw.get(0).size();
        double cap = fx.get("softcap").get("scale").asDouble(), div = fx.get("softcap").get("divisor").asDouble();
        double[] z = new double[T * V];
        for (int t = 0; t < T; t++) for (int v = 0; v < V; v++) z[t * V + v] = raw.get(t).get(v).asDouble();
        int[] tg = new int[T];
        for (int t = 0; t < T; t++) tg[t] = fx.get("targets").get(t).asInt();
        double[] w = {1.0};
        double scale = 0.5;
        Ops ops = Kernels.cpu();
        LossFunction ce = LossFunctions.defaultLoss();
        try (MemoryArena arena = ops.backend().newArena()) {
            Tensor logits = arena.allocate(DType.F64, T, V), inputs = arena.allocate(DType.I32, T), targets = arena.allocate(DType.I32, T);
            Tensor rows = arena.allocate(DType.F64, T), tw = arena.allocate(DType.F64, T), total = arena.allocate(DType.F64, 1);
            Tensor sum = arena.allocate(DType.F64, 1);
            HostData.write(targets, tg);
            LossBatch b = new LossBatch(ops, logits, logits, inputs, targets, rows, tw, total, w, cap, div);
            HostData.write(logits, z);
            double want = ce.trainStep(b, scale) / scale;
            double[] wantGrad = HostData.toDoubles(logits);
            for (LossFunction f : new LossFunction[] {ce, new HostOnly(ce)}) {
                ops.fill(sum, 0);
                for (int micro = 0; micro < 2; micro++) {
                    HostData.write(logits, z);
                    f.trainStepOnDevice(b, scale, sum);
                    assertArrayEquals(wantGrad, HostData.toDoubles(logits), 1e-15, f.name() + ": gradient");
                }
                assertEquals(2 * want, HostData.scalar(sum), 1e-12 * Math.abs(want), f.name() + ": summed loss of two micro-batches");
            }
            assertThrows(IllegalArgumentException.class, () -> new HostOnly(ce).trainStepOnDevice(b, 0, sum));
        }
    }
}
