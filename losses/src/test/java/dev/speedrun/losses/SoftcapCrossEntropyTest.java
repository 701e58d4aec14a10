package dev.speedrun.losses;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Fixtures;
import java.util.Iterator;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The default loss, found through the SPI, against mtp_loss.json (sum and gradient per weight vector). */
class SoftcapCrossEntropyTest {
    @Test void defaultIsFoundByName() {
        assertEquals(SoftcapCrossEntropy.NAME, LossFunctions.defaultLoss().name());
        var e = assertThrows(IllegalArgumentException.class, () -> LossFunctions.get("nope"));
        assertTrue(e.getMessage().contains("softcap-ce"), e.getMessage());
    }

    @Test void matchesMtpFixture() throws Exception {
        JsonNode fx = Fixtures.json("mtp_loss.json");
        JsonNode raw = fx.get("raw_logits");
        int T = raw.size(), V = raw.get(0).size();
        double cap = fx.get("softcap").get("scale").asDouble(), div = fx.get("softcap").get("divisor").asDouble();
        Ops ops = Kernels.cpu();
        LossFunction f = LossFunctions.defaultLoss();
        int cases = 0;
        try (MemoryArena arena = ops.backend().newArena()) {
            Tensor logits = arena.allocate(DType.F64, T, V), inputs = arena.allocate(DType.I32, T), targets = arena.allocate(DType.I32, T);
            Tensor rows = arena.allocate(DType.F64, T), tw = arena.allocate(DType.F64, T), total = arena.allocate(DType.F64, 1);
            double[] z = new double[T * V];
            for (int t = 0; t < T; t++) for (int v = 0; v < V; v++) z[t * V + v] = raw.get(t).get(v).asDouble();
            int[] tg = new int[T];
            for (int t = 0; t < T; t++) tg[t] = fx.get("targets").get(t).asInt();
            HostData.write(targets, tg);
            for (Iterator<Map.Entry<String, JsonNode>> it = fx.fields(); it.hasNext(); ) {
                var e = it.next();
                if (!e.getKey().startsWith("weights=")) continue;
                String inner = e.getKey().substring("weights=[".length(), e.getKey().length() - 1);
                String[] parts = inner.split(",");
                double[] w = new double[parts.length];
                for (int j = 0; j < w.length; j++) w[j] = Double.parseDouble(parts[j].trim());
                HostData.write(logits, z);
                double scale = 0.25;
                double got = f.trainStep(new LossBatch(ops, logits, logits, inputs, targets, rows, tw, total, w, cap, div), scale);
                double want = e.getValue().get("loss_sum").asDouble();
                assertEquals(want * scale, got, 1e-9 * Math.abs(want), e.getKey() + " loss");
                double[] d = HostData.toDoubles(logits);
                JsonNode dz = e.getValue().get("d_raw_logits");
                for (int t = 0; t < T; t++) for (int v = 0; v < V; v++)
                    assertEquals(scale * dz.get(t).get(v).asDouble(), d[t * V + v], 1e-12, e.getKey() + " gradient [" + t + "," + v + "]");
                cases++;
            }
            // evaluation: mean of next-token losses
            HostData.write(logits, z);
            double mean = f.evaluate(new LossBatch(ops, logits, null, inputs, targets, rows, tw, total, new double[] {1}, cap, div));
            assertEquals(fx.get("weights=[1.0]").get("loss_sum").asDouble() / T, mean, 1e-12);
        }
        assertTrue(cases > 0, "no weight vectors in mtp_loss.json");
    }
}
