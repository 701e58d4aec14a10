package dev.speedrun.testsupport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;

/** The parsed record holds what the raw JSON says, field by field. */
class TinyModelFixtureTest {
    @Test void everyFieldIsTheJsons() {
        JsonNode raw = Fixtures.json(TinyModelFixture.FILE);
        TinyModelFixture fx = TinyModelFixture.read();
        assertEquals(raw.get("config"), fx.config());
        assertEquals(raw.get("config").get("vocab_padded").asInt(), fx.vocabPadded());
        assertArrayEquals(Fixtures.ints(raw.get("tokens")), fx.tokens());
        assertArrayEquals(Fixtures.ints(raw.get("targets")), fx.targets());
        assertArrayEquals(Fixtures.ints(raw.get("cu_seqlens")), fx.cuSeqlens());
        assertEquals(raw.get("ws_short").asInt(), fx.windowShort());
        assertEquals(raw.get("ws_long").asInt(), fx.windowLong());
        assertEquals(Fixtures.file(raw.get("weights_file").asText()), fx.weights());
        assertEquals(raw.get("yarn_updates").size(), fx.yarnUpdates().size());
        for (int i = 0; i < fx.yarnUpdates().size(); i++)
            assertArrayEquals(Fixtures.ints(raw.get("yarn_updates").get(i)), fx.yarnUpdates().get(i), "yarn update " + i);
        assertEquals(raw.get("attn_scale").asDouble(), fx.attnScale());
        assertArrayEquals(Fixtures.doubles(raw.get("angular_freq")), fx.angularFreq());
        assertEquals(raw.get("results").size(), fx.results().size());
        for (int i = 0; i < fx.results().size(); i++) {
            JsonNode r = raw.get("results").get(i);
            TinyModelFixture.Result p = fx.results().get(i);
            assertEquals(r.get("mode").asText(), p.mode().name().toLowerCase(java.util.Locale.ROOT), "mode of result " + i);
            assertEquals(r.get("split_embed").asBoolean(), p.splitEmbed(), "split_embed of result " + i);
            assertEquals(r.get("loss").asDouble(), p.loss(), "loss of result " + i);
            assertArrayEquals(r.has("mtp_weights") ? Fixtures.doubles(r.get("mtp_weights")) : new double[0], p.mtpWeights(), "mtp_weights of result " + i);
            assertArrayEquals(r.has("logits_row0_first8") ? Fixtures.doubles(r.get("logits_row0_first8")) : new double[0],
                    p.logitsRow0First8(), "logits of result " + i);
        }
    }
}
