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

    /** Binds a tree strictly; errors name the key path and list the valid keys. */
    public static TrainConfig bind(JsonNode tree, String source) {
        return bind(tree, TrainConfig.class, source, "");
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
                    + e.getOriginalMessage());
        } catch (JsonMappingException e) {
            Throwable root = e;
            while (root.getCause() != null) root = root.getCause();
            throw new ConfigException("invalid config " + source + " at '" + join(prefix, path(e)) + "': " + root.getMessage(), e);
        } catch (JsonProcessingException e) {
            throw new ConfigException("invalid config " + source + ": " + e.getOriginalMessage(), e);
        }
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
