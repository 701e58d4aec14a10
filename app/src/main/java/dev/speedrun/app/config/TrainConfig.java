package dev.speedrun.app.config;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.schedules.ScheduleConfig;
import java.util.List;
import java.util.Map;

/**
 * The resolved configuration of a training run (YAML keys in snake_case; see configs/*.yaml).
 *
 * @param backend        "cpu" or "cuda" (any registered backend name)
 * @param precision      model dtypes: auto (mixed on cuda, f32 elsewhere), mixed (the record's BF16
 *                       activations, see dev.speedrun.model.Precision), f32, f64 or bf16; auto when null
 * @param worldSize      ranks (GPUs, or threads on CPU)
 * @param seed           parameter-init seed
 * @param trainData      glob of the training shards
 * @param valData        glob of the validation shard(s)
 * @param out            folder under which runs/&lt;id&gt; are created
 * @param plugins        plugin names, in order
 * @param pluginOptions  per plugin, its options (bound to the plugin's options record)
 * @param model          model sizes
 * @param microBatches   micro-batches per optimizer step over all ranks (grad_accum = this / world_size)
 * @param schedule       the record's schedules
 * @param optim          optimizer hyper-parameters
 * @param validation     validation size
 * @param checkpoint     checkpoint cadence
 * @param maxSteps       stop after this many steps (0: run the whole schedule); the schedule is unchanged
 */
public record TrainConfig(String backend, PrecisionChoice precision, int worldSize, long seed, String trainData, String valData, String out,
                          List<String> plugins, Map<String, JsonNode> pluginOptions, ModelSection model,
                          int microBatches, ScheduleConfig schedule, OptimSection optim, ValidationSection validation,
                          CheckpointSection checkpoint, int maxSteps) {

    public TrainConfig {
        if (precision == null) precision = PrecisionChoice.AUTO;
        plugins = plugins == null ? List.of() : List.copyOf(plugins);
        pluginOptions = pluginOptions == null ? Map.of() : Map.copyOf(pluginOptions);
    }

    /** Steps this run trains: the whole schedule or {@code max_steps}. */
    public int trainSteps() {
        return maxSteps > 0 ? Math.min(maxSteps, schedule.totalSteps()) : schedule.totalSteps();
    }

    /**
     * @param vocabSize     tokenizer vocabulary (50257 for GPT-2); padded to a multiple of 128
     * @param maxSeqLen     longest document segment in a training batch (2048)
     * @param qkvInitScale  multiplier of the Q/K/V init bound (record 178: 1, record 177: 0.5)
     */
    public record ModelSection(int vocabSize, int numLayers, int numHeads, int headDim, int modelDim, int blockSize,
                               int gateInputDims, int maxSeqLen, double qkvInitScale) {}

    public record NorMuonSection(double lr, double weightDecay, double beta2) {}

    public record AdamSection(double lr, double beta1, double beta2, double eps, double weightDecay) {}

    /** @param adam lm_head, value embeds, gates, x0 lambdas, embed; @param adamScalars the scalars vector */
    public record OptimSection(NorMuonSection normuon, AdamSection adam, AdamSection adamScalars) {}

    /** @param tokens validation tokens per evaluation; @param batchTokens global tokens per validation step */
    public record ValidationSection(long tokens, long batchTokens) {}

    /** @param every checkpoint every this many steps (0: only at the end) */
    public record CheckpointSection(int every) {}
}
