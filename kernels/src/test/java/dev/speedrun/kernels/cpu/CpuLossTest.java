package dev.speedrun.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Fixtures;
import java.io.IOException;
import java.util.Iterator;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class CpuLossTest extends OpTestSupport {

    /** Parses "weights=[1.0, 0.5]" into {1.0, 0.5}. */
    static double[] weightsOf(String key) {
        String body = key.substring(key.indexOf('[') + 1, key.lastIndexOf(']'));
        String[] parts = body.split(",");
        double[] w = new double[parts.length];
        for (int i = 0; i < parts.length; i++) w[i] = Double.parseDouble(parts[i].trim());
        return w;
    }

    static double[] flat(JsonNode rows) {
        int T = rows.size(), V = rows.get(0).size();
        double[] a = new double[T * V];
        for (int t = 0; t < T; t++) for (int c = 0; c < V; c++) a[t * V + c] = rows.get(t).get(c).asDouble();
        return a;
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void matchesTheMtpFixture(DType d) throws IOException {
        JsonNode f = Fixtures.json("mtp_loss.json");
        JsonNode raw = f.get("raw_logits");
        int T = raw.size(), V = raw.get(0).size();
        double[] z = flat(raw);
        int[] tgt = new int[T];
        for (int t = 0; t < T; t++) tgt[t] = f.get("targets").get(t).asInt();
        double cap = f.get("softcap").get("scale").asDouble(), div = f.get("softcap").get("divisor").asDouble();
        // the fixture is float64; compare with the README's tolerances
        double tol = d == DType.F64 ? 1e-9 : 1e-4;
        int cases = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = f.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getKey().startsWith("weights=")) continue;
            cases++;
            double[] w = weightsOf(e.getKey());
            Tensor logits = t(d, z, T, V), losses = zeros(d, T), dz = zeros(d, T, V), tt = ints(tgt, T);
            OPS.softcapCrossEntropy(losses, dz, logits, tt, null, w, cap, div, 1.0);
            double sum = 0;
            for (double l : d(losses)) sum += l;
            close("mtp fixture loss " + d, new double[] {e.getValue().get("loss_sum").asDouble()}, new double[] {sum}, tol);
            close("mtp fixture grad " + d, flat(e.getValue().get("d_raw_logits")), d(dz), tol);
            // in place: dLogits aliasing logits consumes them
            OPS.softcapCrossEntropy(losses, logits, logits, tt, null, w, cap, div, 1.0);
            close("mtp fixture grad in place " + d, flat(e.getValue().get("d_raw_logits")), d(logits), tol);
        }
        assertTrue(cases > 0, "mtp_loss.json holds no 'weights=[...]' cases");
    }

    @ParameterizedTest @EnumSource(value = DType.class, names = {"F32", "F64"})
    void targetWeightsGradScaleAndPaddedVocab(DType d) {
        for (int[] tv : new int[][] {{1, 5}, {4, 9}, {11, 130}}) {
            int T = tv[0], V = tv[1];
            double[] z = uniform(T * V, -20, 20);
            int[] tgt = new int[T];
            for (int t = 0; t < T; t++) tgt[t] = rnd.nextInt(V);
            double[] m = new double[T];
            for (int t = 0; t < T; t++) m[t] = rnd.nextInt(3) == 0 ? 0 : 1;
            double[] w = {1, 0.5, 0.25};
            Tensor logits = t(d, z, T, V), losses = zeros(d, T), dz = zeros(d, T, V), tt = ints(tgt, T), mt = t(d, m, T);
            OPS.softcapCrossEntropy(losses, dz, logits, tt, mt, w, 30, 7.5, 0.125);
            close("softcapCE losses " + d, Reference.softcapLosses(d(logits), T, V, tgt, m, w, 30, 7.5), d(losses), tol(d));
            Tensor l2 = zeros(d, T);
            OPS.softcapCrossEntropy(l2, null, logits, tt, null, w, 30, 7.5, 1);
            close("softcapCE no weights " + d, Reference.softcapLosses(d(logits), T, V, tgt, null, w, 30, 7.5), d(l2), tol(d));
        }
    }

    @Test void gradientFiniteDifferences() {
        DType d = DType.F64;
        int T = 5, V = 7;
        int[] tgt = {1, 6, 0, 6, 3};
        double[] m = {1, 0, 1, 1, 0.5};
        double[] w = {1, 0.5, 0.25};
        Tensor logits = t(d, uniform(T * V, -10, 10), T, V), losses = zeros(d, T), dz = zeros(d, T, V);
        Tensor tt = ints(tgt, T), mt = t(d, m, T);
        double gs = 0.25;
        OPS.softcapCrossEntropy(losses, dz, logits, tt, mt, w, 30, 7.5, gs);
        Tensor l2 = zeros(d, T);
        fdCheck("softcapCE", logits, d(dz), () -> {
            OPS.softcapCrossEntropy(l2, null, logits, tt, mt, w, 30, 7.5, gs);
            double s = 0;
            for (double l : d(l2)) s += gs * l;
            return s;
        });
        assertFalse(Double.isNaN(d(losses)[0]));
    }
}
