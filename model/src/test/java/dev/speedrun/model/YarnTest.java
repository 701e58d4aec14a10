package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.tensor.Backends;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.testsupport.Fixtures;
import org.junit.jupiter.api.Test;

/** YaRN reset and the record's window changes against yarn_record178.json. */
class YarnTest {
    @Test void matchesRecordStates() {
        JsonNode fx = Fixtures.json("yarn_record178.json");
        int d = fx.get("head_dim").asInt();
        GptConfig base = GptConfig.withSizes(100, 11, 1, d, d, fx.get("block_size").asInt(), Math.min(12, d));
        GptConfig cfg = new GptConfig(base.vocabSize(), base.numLayers(), base.numHeads(), base.headDim(), base.modelDim(), base.blockSize(),
                base.gateInputDims(), base.mlpHidden(), base.skipInLayer(), base.skipOutLayer(), base.backoutLayer(), base.attnFreeLayer(),
                base.longWindowLayers(), base.valueEmbedMap(), base.numValueEmbeds(), base.ropeBase(), base.attnScale(),
                fx.get("alpha").asDouble(), fx.get("beta").asDouble(), base.softcap(), base.softcapDivisor(), base.qkvInitScale());
        try (MemoryArena arena = Backends.cpu().newArena()) {
            Yarn y = new Yarn(cfg, arena.allocate(DType.F64, d / 2));
            double worst = 0;
            int prev = -1;
            for (JsonNode s : fx.get("states")) {
                int ws = s.get("ws_long").asInt();
                if (prev < 0) y.reset(); else y.apply(prev, ws);
                prev = ws;
                double[] want = Fixtures.doubles(s.get("angular_freq"));
                double[] got = y.angularFreq();
                assertEquals(want.length, got.length, s.get("after").asText());
                for (int j = 0; j < want.length; j++) {
                    assertEquals(want[j], got[j], 1e-12 * Math.max(1, Math.abs(want[j])), s.get("after").asText() + " freq " + j);
                    worst = Math.max(worst, Math.abs(want[j] - got[j]));
                }
                assertEquals(s.get("attn_scale").asDouble(), y.attnScale(), 1e-14, s.get("after").asText() + " attn_scale");
                assertArrayEquals(got, HostData.toDoubles(y.freqs()), 0, "device copy of the frequencies");
            }
            System.out.printf("yarn: worst absolute frequency error %.3e%n", worst);
        }
    }
}
