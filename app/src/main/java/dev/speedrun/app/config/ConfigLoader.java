package dev.speedrun.app.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.exc.InvalidFormatException;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Loads a {@link TrainConfig}: the built-in record-178 file is the base, the chosen file is merged
 * over it (objects key by key, everything else replaced), then command-line overrides, then the
 * tree is bound strictly: an unknown key is an error naming it and listing the valid keys.
 */
public final class ConfigLoader {
    /** Built-in configurations (resources under configs/, from the repository's configs/ folder). */
    public static final List<String> BUILT_IN = List.of("record-178", "record-177", "tiny-cpu");
    public static final String BASE = "record-178";
    /** Informational section of a run's config.yaml, ignored when the file is used as a config. */
    public static final String RUN_SECTION = "run";

    private static final ObjectMapper YAML = mapper();

    private ConfigLoader() {}

    public static ObjectMapper mapper() {
        ObjectMapper m = new ObjectMapper(new YAMLFactory().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
                .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES));
        m.setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);
        m.enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
        m.enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
        m.enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS);
        return m;
    }

    /** The tree of a config given by built-in name or file path. */
    public static ObjectNode readTree(String nameOrPath) {
        Path p = Path.of(nameOrPath);
        if (Files.isRegularFile(p)) {
            try { return asObject(YAML.readTree(p.toFile()), nameOrPath); }
            catch (IOException e) { throw new ConfigException("cannot read config " + nameOrPath + ": " + e.getMessage(), e); }
        }
        // a built-in name, or a path to configs/<name>.yaml run from elsewhere
        String name = p.getFileName().toString().replaceFirst("\\.yaml$", "");
        if (BUILT_IN.contains(name)) {
            try (InputStream in = ConfigLoader.class.getResourceAsStream("/configs/" + name + ".yaml")) {
                if (in == null) throw new ConfigException("built-in config '" + name + "' is missing from the application jar");
                return asObject(YAML.readTree(in), name);
            } catch (IOException e) { throw new ConfigException("cannot read built-in config " + name + ": " + e.getMessage(), e); }
        }
        throw new ConfigException("config '" + nameOrPath + "' is neither a file nor a built-in config (built-in: "
                + String.join(", ", BUILT_IN) + ")");
    }

    private static ObjectNode asObject(JsonNode n, String source) {
        if (n == null || n.isMissingNode() || n.isNull()) return YAML.createObjectNode();
        if (!(n instanceof ObjectNode o)) throw new ConfigException("config " + source + " must be a mapping of keys, not " + n.getNodeType());
        return o;
    }

    /** Base ⊕ file ⊕ overrides (dotted keys → YAML values), as a tree. */
    public static ObjectNode resolveTree(String nameOrPath, Map<String, Object> overrides) {
        ObjectNode tree = readTree(BASE).deepCopy();
        if (nameOrPath != null && !nameOrPath.equals(BASE)) {
            ObjectNode file = readTree(nameOrPath);
            // a run's config.yaml carries an informational "run" section (plugins, versions, hardware)
            file.remove(RUN_SECTION);
            merge(tree, file);
        }
        for (var e : overrides.entrySet()) {
            String[] parts = e.getKey().split("\\.");
            ObjectNode at = tree;
            for (int i = 0; i < parts.length - 1; i++) at = at.withObject("/" + parts[i]);
            at.set(parts[parts.length - 1], YAML.valueToTree(e.getValue()));
        }
        return tree;
    }

    public static TrainConfig load(String nameOrPath, Map<String, Object> overrides) {
        return bind(resolveTree(nameOrPath, overrides), nameOrPath == null ? BASE : nameOrPath);
    }

    /** Binds a tree strictly and checks every value's range; errors name the key path (and list the valid keys). */
    public static TrainConfig bind(JsonNode tree, String source) {
        TrainConfig c = bind(tree, TrainConfig.class, source, "");
        validate(c, source);
        return c;
    }

    /**
     * The ranges of a bound configuration, each error one line naming the key: a section left
     * out, a size or count that is not positive, a learning rate, beta or epsilon out of its
     * range, model sizes that do not fit together.
     */
    public static void validate(TrainConfig c, String source) {
        String in = " in " + source;
        for (var sec : new Object[][] {{"model", c.model()}, {"schedule", c.schedule()}, {"optim", c.optim()},
                {"validation", c.validation()}, {"checkpoint", c.checkpoint()}})
            if (sec[1] == null) throw new ConfigException("missing section '" + sec[0] + "'" + in);
        nonBlank("backend", c.backend(), in);
        nonBlank("train_data", c.trainData(), in);
        nonBlank("val_data", c.valData(), in);
        nonBlank("out", c.out(), in);
        for (String p : c.plugins()) if (p == null || p.isBlank()) throw new ConfigException("plugins: an empty plugin name" + in);
        atLeast("world_size", c.worldSize(), 1, in);
        atLeast("micro_batches", c.microBatches(), 1, in);
        atLeast("max_steps", c.maxSteps(), 0, in);
        var m = c.model();
        atLeast("model.vocab_size", m.vocabSize(), 1, in);
        atLeast("model.num_layers", m.numLayers(), 1, in);
        atLeast("model.num_heads", m.numHeads(), 1, in);
        atLeast("model.head_dim", m.headDim(), 1, in);
        atLeast("model.model_dim", m.modelDim(), 1, in);
        atLeast("model.block_size", m.blockSize(), 1, in);
        atLeast("model.gate_input_dims", m.gateInputDims(), 1, in);
        atLeast("model.max_seq_len", m.maxSeqLen(), 1, in);
        positive("model.qkv_init_scale", m.qkvInitScale(), in);
        try {
            dev.speedrun.model.GptConfig.withSizes(m.vocabSize(), m.numLayers(), m.numHeads(), m.headDim(), m.modelDim(), m.blockSize(),
                    m.gateInputDims()).validate();
        } catch (IllegalArgumentException e) {
            // the model's own names (camelCase) as the keys of the model section
            String msg = e.getMessage().replaceFirst("^GptConfig: ", "");
            java.util.regex.Matcher mm = java.util.regex.Pattern.compile("\\b([a-z]+)([A-Z][A-Za-z]*)\\b").matcher(msg);
            StringBuilder sb = new StringBuilder();
            while (mm.find()) mm.appendReplacement(sb, "model." + snake(mm.group(1) + mm.group(2)));
            mm.appendTail(sb);
            throw new ConfigException("model sizes do not fit" + in + ": " + sb);
        }
        var o = c.optim();
        if (o.normuon() == null || o.adam() == null || o.adamScalars() == null)
            throw new ConfigException("missing section 'optim." + (o.normuon() == null ? "normuon" : o.adam() == null ? "adam" : "adam_scalars") + "'" + in);
        nonNegative("optim.normuon.lr", o.normuon().lr(), in);
        nonNegative("optim.normuon.weight_decay", o.normuon().weightDecay(), in);
        unitInterval("optim.normuon.beta2", o.normuon().beta2(), in);
        for (var e : new Object[][] {{"optim.adam", o.adam()}, {"optim.adam_scalars", o.adamScalars()}}) {
            String k = (String) e[0];
            TrainConfig.AdamSection a = (TrainConfig.AdamSection) e[1];
            nonNegative(k + ".lr", a.lr(), in);
            unitInterval(k + ".beta1", a.beta1(), in);
            unitInterval(k + ".beta2", a.beta2(), in);
            positive(k + ".eps", a.eps(), in);
            nonNegative(k + ".weight_decay", a.weightDecay(), in);
        }
        var v = c.validation();
        if (v.tokens() < 1) throw new ConfigException("validation.tokens must be ≥ 1, got " + v.tokens() + in);
        if (v.batchTokens() < 1) throw new ConfigException("validation.batch_tokens must be ≥ 1, got " + v.batchTokens() + in);
        atLeast("checkpoint.every", c.checkpoint().every(), 0, in);
        var s = c.schedule();
        for (int i = 0; i < s.batchTokens().size(); i++)
            if (s.batchTokens().get(i) == null || s.batchTokens().get(i) < 1)
                throw new ConfigException("schedule.batch_tokens[" + i + "] must be ≥ 1, got " + s.batchTokens().get(i) + in);
        if (s.extensionBatchTokens() < 1) throw new ConfigException("schedule.extension_batch_tokens must be ≥ 1, got " + s.extensionBatchTokens() + in);
        for (int i = 0; i < s.windowLong().size(); i++)
            if (s.windowLong().get(i) == null || s.windowLong().get(i) < 1)
                throw new ConfigException("schedule.window_long[" + i + "] must be ≥ 1, got " + s.windowLong().get(i) + in);
        for (int i = 0; i < s.lrMax().size(); i++)
            if (s.lrMax().get(i) == null || !(s.lrMax().get(i) >= 0) || s.lrMax().get(i).isInfinite())
                throw new ConfigException("schedule.lr_max[" + i + "] must be a finite number ≥ 0, got " + s.lrMax().get(i) + in);
        atLeast("schedule.extension_window_long", s.extensionWindowLong(), 1, in);
        atLeast("schedule.final_window_long", s.finalWindowLong(), 1, in);
        atLeast("schedule.final_window_short", s.finalWindowShort(), 1, in);
        unitInterval("schedule.min_lr_mult", s.minLrMult(), in, true);
        unitInterval("schedule.momentum_min", s.momentumMin(), in);
        unitInterval("schedule.momentum_max", s.momentumMax(), in);
        atLeast("schedule.momentum_warmup_steps", s.momentumWarmupSteps(), 0, in);
        atLeast("schedule.momentum_cooldown_steps", s.momentumCooldownSteps(), 0, in);
        atLeast("schedule.transition_freeze_steps", s.transitionFreezeSteps(), 0, in);
        atLeast("schedule.val_every", s.valEvery(), 0, in);
    }

    private static String snake(String camel) { return camel.replaceAll("([A-Z])", "_$1").toLowerCase(java.util.Locale.ROOT); }

    private static void nonBlank(String key, String v, String in) {
        if (v == null || v.isBlank()) throw new ConfigException(key + " must be given (a non-empty string)" + in);
    }

    private static void atLeast(String key, long v, long min, String in) {
        if (v < min) throw new ConfigException(key + " must be ≥ " + min + ", got " + v + in);
    }

    private static void positive(String key, double v, String in) {
        if (!(v > 0) || Double.isInfinite(v)) throw new ConfigException(key + " must be a finite number > 0, got " + v + in);
    }

    private static void nonNegative(String key, double v, String in) {
        if (!(v >= 0) || Double.isInfinite(v)) throw new ConfigException(key + " must be a finite number ≥ 0, got " + v + in);
    }

    private static void unitInterval(String key, double v, String in) { unitInterval(key, v, in, false); }

    /** [0, 1), or [0, 1] when {@code closed}. */
    private static void unitInterval(String key, double v, String in, boolean closed) {
        if (!(v >= 0) || (closed ? v > 1 : v >= 1))
            throw new ConfigException(key + " must be in [0, 1" + (closed ? "]" : ")") + ", got " + v + in);
    }

    /** Binds {@code tree} to {@code type}; {@code prefix} is prepended to key paths in errors. */
    public static <T> T bind(JsonNode tree, Class<T> type, String source, String prefix) {
        try {
            return YAML.treeToValue(tree, type);
        } catch (UnrecognizedPropertyException e) {
            TreeSet<String> valid = new TreeSet<>();
            for (Object k : e.getKnownPropertyIds()) valid.add(String.valueOf(k));
            throw new ConfigException("unknown key '" + join(prefix, path(e)) + "' in " + source + " (valid keys here: "
                    + String.join(", ", valid) + ")");
        } catch (InvalidFormatException e) {
            throw new ConfigException("bad value " + e.getValue() + " for '" + join(prefix, path(e)) + "' in " + source
                    + ": expected " + e.getTargetType().getSimpleName());
        } catch (MismatchedInputException e) {
            throw new ConfigException("bad or missing value for '" + join(prefix, path(e)) + "' in " + source + ": "
                    + firstLine(e.getOriginalMessage()));
        } catch (JsonMappingException e) {
            Throwable root = e;
            while (root.getCause() != null) root = root.getCause();
            throw new ConfigException("invalid config " + source + " at '" + join(prefix, path(e)) + "': " + firstLine(root.getMessage()), e);
        } catch (JsonProcessingException e) {
            throw new ConfigException("invalid config " + source + ": " + firstLine(e.getOriginalMessage()), e);
        }
    }

    /** Jackson appends the source location on a second line: errors are one line. */
    private static String firstLine(String s) {
        if (s == null) return "";
        int nl = s.indexOf('\n');
        return (nl < 0 ? s : s.substring(0, nl)).strip();
    }

    private static String join(String prefix, String path) {
        return prefix.isEmpty() ? path : path.isEmpty() ? prefix : prefix + "." + path;
    }

    private static String path(JsonMappingException e) {
        List<String> parts = new ArrayList<>();
        for (JsonMappingException.Reference r : e.getPath()) {
            if (r.getFieldName() != null) parts.add(r.getFieldName());
            else if (r.getIndex() >= 0 && !parts.isEmpty()) parts.set(parts.size() - 1, parts.getLast() + "[" + r.getIndex() + "]");
        }
        return String.join(".", parts);
    }

    /** Deep merge: mappings merge key by key, any other value (lists included) replaces. */
    public static void merge(ObjectNode into, JsonNode from) {
        for (Iterator<Map.Entry<String, JsonNode>> it = from.fields(); it.hasNext(); ) {
            var e = it.next();
            JsonNode cur = into.get(e.getKey());
            if (cur instanceof ObjectNode co && e.getValue() instanceof ObjectNode) merge(co, e.getValue());
            else into.set(e.getKey(), e.getValue().deepCopy());
        }
    }

    public static String toYaml(Object value) {
        try { return YAML.writeValueAsString(value); }
        catch (JsonProcessingException e) { throw new IllegalStateException(e); }
    }
}
