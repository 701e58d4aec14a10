package dev.speedrun.testsupport;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@value #FILE}, parsed: the tiny reference model's inputs, weights and its six results (train
 * sums and eval means, tied and split embeddings, multi-token weights). The model tests on every
 * backend read it through here, so the schema is written out once.
 *
 * @param config      the fixture's {@code config} object (each module builds its model config from it)
 * @param vocabPadded the padded vocabulary the model must derive from {@code config}
 * @param tokens      the inputs, [T]
 * @param targets     the next-token targets, [T]
 * @param cuSeqlens   document boundaries, [documents + 1]
 * @param windowShort short attention window (tokens)
 * @param windowLong  long attention window (tokens)
 * @param weights     the safetensors file with the weights
 * @param yarnUpdates YaRN window updates to apply in order, each {old, new} window
 * @param attnScale   attention scale after the updates
 * @param angularFreq rotary angular frequencies after the updates
 * @param results     the expected results, in file order
 */
public record TinyModelFixture(JsonNode config, int vocabPadded, int[] tokens, int[] targets, int[] cuSeqlens,
                               int windowShort, int windowLong, Path weights, List<int[]> yarnUpdates,
                               double attnScale, double[] angularFreq, List<Result> results) {
    public static final String FILE = "model_tiny.json";

    /** What a result measures. */
    public enum Mode {
        /** Forward and backward with the result's multi-token weights: the summed loss. */
        TRAIN_SUM,
        /** Forward only: the mean loss per target. */
        EVAL_MEAN
    }

    /**
     * One expected result.
     *
     * @param mtpWeights      multi-token weights of a {@link Mode#TRAIN_SUM} result (empty for eval)
     * @param logitsRow0First8 soft-capped logits of row 0, first columns, where the fixture has them (else empty)
     */
    public record Result(Mode mode, boolean splitEmbed, double[] mtpWeights, double loss, double[] logitsRow0First8) {}

    /** Reads {@value #FILE} from the fixtures folder; an unknown mode fails naming it. */
    public static TinyModelFixture read() {
        JsonNode fx = Fixtures.json(FILE);
        List<int[]> yarn = new ArrayList<>();
        for (JsonNode u : fx.get("yarn_updates")) yarn.add(new int[] {u.get(0).asInt(), u.get(1).asInt()});
        List<Result> results = new ArrayList<>();
        for (JsonNode r : fx.get("results")) {
            String mode = r.get("mode").asText();
            Mode m = switch (mode) {
                case "train_sum" -> Mode.TRAIN_SUM;
                case "eval_mean" -> Mode.EVAL_MEAN;
                default -> throw new IllegalStateException(FILE + ": unknown mode '" + mode + "' in results[" + results.size() + "]");
            };
            results.add(new Result(m, r.get("split_embed").asBoolean(), optionalDoubles(r, "mtp_weights"),
                    r.get("loss").asDouble(), optionalDoubles(r, "logits_row0_first8")));
        }
        return new TinyModelFixture(fx.get("config"), fx.get("config").get("vocab_padded").asInt(),
                Fixtures.ints(fx.get("tokens")), Fixtures.ints(fx.get("targets")), Fixtures.ints(fx.get("cu_seqlens")),
                fx.get("ws_short").asInt(), fx.get("ws_long").asInt(), Fixtures.dir().resolve(fx.get("weights_file").asText()),
                List.copyOf(yarn), fx.get("attn_scale").asDouble(), Fixtures.doubles(fx.get("angular_freq")), List.copyOf(results));
    }

    private static double[] optionalDoubles(JsonNode r, String key) {
        return r.has(key) ? Fixtures.doubles(r.get(key)) : new double[0];
    }
}
