package dev.speedrun.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.losses.LossFunctions;
import dev.speedrun.model.Checkpoints;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code loss}: the parity harness. Reads a case (the format of the fixture
 * {@code fixtures/model_tiny.json}: config, tokens, targets, cu_seqlens, windows, YaRN updates, results)
 * and prints, for each entry of {@code results} in order, one JSON line with the computed loss.
 * Every size comes from the case.
 */
@Command(name = "loss", mixinStandardHelpOptions = true,
        description = "Compute a model case's losses (parity with other implementations); one JSON line per result.")
public final class LossCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--case", required = true, description = "case JSON (format of fixtures/model_tiny.json)") Path casePath;
    @Option(names = "--weights", description = "safetensors weights (default: the case's weights_file, beside the case)") Path weights;
    @Option(names = "--dtype", defaultValue = "f64", description = "compute dtype: f64 or f32 (default ${DEFAULT-VALUE})") String dtype;
    @Option(names = "--backend", defaultValue = "cpu", description = "backend: cpu, cuda or cuda-emu (default ${DEFAULT-VALUE})") String backend;
    @Option(names = "--loss", defaultValue = "softcap-ce", description = "loss function by name (default ${DEFAULT-VALUE})") String lossName;

    @Override public Integer call() throws Exception {
        if (!Files.isRegularFile(casePath)) throw new IllegalArgumentException("--case " + casePath + ": no such file");
        ObjectMapper om = new ObjectMapper();
        JsonNode c = om.readTree(casePath.toFile());
        DType dt = DType.parse(dtype);
        if (dt != DType.F64 && dt != DType.F32) throw new IllegalArgumentException("--dtype must be f64 or f32, not " + dtype);
        JsonNode cfgNode = need(c, "config");
        GptConfig cfg = GptConfig.withSizes(needInt(cfgNode, "vocab_size"), needInt(cfgNode, "num_layers"), needInt(cfgNode, "num_heads"),
                needInt(cfgNode, "head_dim"), needInt(cfgNode, "model_dim"), needInt(cfgNode, "block_size"), needInt(cfgNode, "gate_input_dims"));
        if (cfgNode.has("vocab_padded") && cfgNode.get("vocab_padded").asInt() != cfg.vocabPadded())
            throw new IllegalArgumentException("case " + casePath + ": vocab_padded " + cfgNode.get("vocab_padded") + " but the model pads "
                    + cfg.vocabSize() + " to " + cfg.vocabPadded());
        int[] tokens = ints(need(c, "tokens")), targets = ints(need(c, "targets")), cu = ints(need(c, "cu_seqlens"));
        int wsS = needInt(c, "ws_short"), wsL = needInt(c, "ws_long");
        Path w = weights != null ? weights : resolveWeights(c);
        LossFunction loss = LossFunctions.get(lossName);
        PrintWriter out = spec.commandLine().getOut();
        try (Gpt gpt = new Gpt(cfg, Kernels.ops(backend), dt, tokens.length, 1, 0)) {
            Checkpoints.load(gpt, w);
            for (JsonNode u : c.path("yarn_updates")) {
                int oldW = u.isArray() ? u.get(0).asInt() : needInt(u, "old");
                int newW = u.isArray() ? u.get(1).asInt() : needInt(u, "new");
                gpt.yarn().apply(oldW, newW);
            }
            checkYarn(c, gpt);
            for (JsonNode r : need(c, "results")) {
                String mode = need(r, "mode").asText();
                gpt.setSplitEmbed(r.path("split_embed").asBoolean(false));
                ObjectNode line = om.createObjectNode();
                line.put("mode", mode);
                line.put("split_embed", gpt.splitEmbed());
                switch (mode) {
                    case "train_sum" -> {
                        double[] mtp = r.has("mtp_weights") ? doubles(r.get("mtp_weights")) : new double[] {1};
                        line.set("mtp_weights", om.valueToTree(mtp));
                        line.put("loss", gpt.trainingLoss(tokens, targets, cu, wsS, wsL, loss, mtp, 1.0));
                    }
                    case "eval_mean" -> {
                        line.put("loss", gpt.evaluate(tokens, targets, cu, wsS, wsL, loss));
                        // soft-capped logits of row 0, for comparing the head itself
                        double[] z = HostData.toDoubles(gpt.logits(tokens.length).get(0).view(0, Math.min(8, cfg.vocabPadded())));
                        var arr = line.putArray("logits_row0_first8");
                        for (double v : z) arr.add(cfg.softcap() / (1 + Math.exp(-v / cfg.softcapDivisor())));
                    }
                    default -> throw new IllegalArgumentException("case " + casePath + ": unknown result mode '" + mode + "' (valid: train_sum, eval_mean)");
                }
                out.println(om.writeValueAsString(line));
            }
        }
        out.flush();
        return 0;
    }

    /** The case's stated YaRN state (when present) must be what the updates produced. */
    private void checkYarn(JsonNode c, Gpt gpt) {
        if (c.has("attn_scale") && Math.abs(c.get("attn_scale").asDouble() - gpt.yarn().attnScale()) > 1e-12 * Math.abs(gpt.yarn().attnScale()))
            throw new IllegalArgumentException("case " + casePath + ": attn_scale " + c.get("attn_scale") + " but the YaRN updates give " + gpt.yarn().attnScale());
        if (c.has("angular_freq")) {
            double[] want = doubles(c.get("angular_freq")), got = gpt.yarn().angularFreq();
            if (want.length != got.length) throw new IllegalArgumentException("case " + casePath + ": angular_freq has " + want.length + " entries, head_dim/2 = " + got.length);
            for (int j = 0; j < want.length; j++)
                if (Math.abs(want[j] - got[j]) > 1e-12 * Math.max(1, Math.abs(want[j])))
                    throw new IllegalArgumentException("case " + casePath + ": angular_freq[" + j + "] " + want[j] + " but the YaRN updates give " + got[j]);
        }
    }

    private Path resolveWeights(JsonNode c) {
        if (!c.has("weights_file")) throw new IllegalArgumentException("case " + casePath + " names no weights_file; pass --weights");
        Path dir = casePath.toAbsolutePath().getParent();
        return dir.resolve(c.get("weights_file").asText());
    }

    private JsonNode need(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) throw new IllegalArgumentException("case " + casePath + ": missing field '" + field + "'");
        return v;
    }

    private int needInt(JsonNode n, String field) {
        JsonNode v = need(n, field);
        if (!v.canConvertToInt()) throw new IllegalArgumentException("case " + casePath + ": field '" + field + "' is not an integer: " + v);
        return v.asInt();
    }

    private static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
        return r;
    }

    private static double[] doubles(JsonNode a) {
        double[] r = new double[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asDouble();
        return r;
    }
}
