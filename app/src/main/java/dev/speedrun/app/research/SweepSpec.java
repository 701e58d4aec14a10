package dev.speedrun.app.research;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.speedrun.app.config.ConfigException;
import dev.speedrun.app.config.ConfigLoader;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A sweep file: a base configuration, keys set on every run and a matrix whose cartesian product
 * gives the runs. Keys are configuration keys (nested or dotted, e.g. {@code optim.normuon.lr},
 * {@code plugin_options.untie.fraction}); {@code plugins} takes lists of names (or comma strings).
 * The keys and values themselves are checked by the configuration loader when the runs are
 * prepared ({@link SweepCommand}).
 *
 * <pre>
 * base: tiny-cpu            # built-in config name or YAML file (relative to the sweep file or the working folder)
 * set: {max_steps: 30}      # applied to every run
 * matrix:                   # one run per combination, in this order (the last key varies fastest)
 *   plugins: [[mtp, untie, cwd, adam-cwd-strict], [cwd]]
 *   seed: [0, 1, 2]
 * name: ablation            # optional: folder runs/&lt;name&gt; (default: the file name)
 * target: 3.28              # optional: val-loss target of compare's one-sided t-test
 * out: runs                 # optional: parent folder of the sweep
 * plugin_path: [jars/]      # optional: folders with plugin jars
 * </pre>
 */
public record SweepSpec(String name, String base, Map<String, JsonNode> set, Map<String, List<JsonNode>> matrix, Double target,
                        String out, List<String> pluginPath) {

    /** The file format (bound strictly: an unknown top-level key is an error naming it). */
    record File(String name, String base, ObjectNode set, ObjectNode matrix, Double target, String out, List<String> pluginPath) {}

    /** One run of the sweep: its folder name, its group (the name without the seed) and its overrides. */
    public record Run(String name, String group, Map<String, JsonNode> values, Map<String, Object> overrides) {}

    /** Keys the sweep itself controls. */
    static final Set<String> RESERVED = Set.of("out");

    public static SweepSpec read(Path file) {
        if (!Files.isRegularFile(file)) throw new ConfigException("sweep file " + file + " does not exist");
        JsonNode root;
        try {
            root = ConfigLoader.mapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new ConfigException("cannot read sweep file " + file + ": " + e.getMessage(), e);
        }
        if (!(root instanceof ObjectNode)) throw new ConfigException("sweep file " + file + " must be a mapping (base, set, matrix, ...)");
        File f = ConfigLoader.bind(root, File.class, "sweep file " + file, "");
        if (f.base() == null || f.base().isBlank()) throw new ConfigException("sweep file " + file + ": 'base' is missing (a built-in config name or a YAML file)");
        String base = f.base();
        Path rel = file.toAbsolutePath().getParent().resolve(base);
        if (!Files.isRegularFile(Path.of(base)) && Files.isRegularFile(rel)) base = rel.toString();
        Map<String, JsonNode> set = new LinkedHashMap<>();
        if (f.set() != null) flatten("", f.set(), set);
        Map<String, List<JsonNode>> matrix = new LinkedHashMap<>();
        if (f.matrix() != null) {
            for (Iterator<Map.Entry<String, JsonNode>> it = f.matrix().fields(); it.hasNext(); ) {
                var e = it.next();
                if (!(e.getValue() instanceof ArrayNode a) || a.isEmpty())
                    throw new ConfigException("sweep file " + file + ": matrix key '" + e.getKey() + "' needs a non-empty list of values, got "
                            + e.getValue());
                List<JsonNode> vals = new ArrayList<>();
                for (JsonNode v : a) vals.add(e.getKey().equals("plugins") ? pluginList(file, v) : v);
                matrix.put(e.getKey(), vals);
            }
        }
        for (String k : set.keySet()) reserved(file, "set", k);
        for (String k : matrix.keySet()) {
            reserved(file, "matrix", k);
            if (set.containsKey(k)) throw new ConfigException("sweep file " + file + ": key '" + k + "' is both in set and in matrix");
        }
        if (set.containsKey("plugins")) set.put("plugins", pluginList(file, set.get("plugins")));
        String name = f.name() != null ? f.name() : file.getFileName().toString().replaceFirst("\\.ya?ml$", "");
        if (!name.matches("[A-Za-z0-9._+=,-]+")) throw new ConfigException("sweep file " + file + ": name '" + name
                + "' must be letters, digits and . _ + = , -");
        return new SweepSpec(name, base, set, matrix, f.target(), f.out(), f.pluginPath() == null ? List.of() : f.pluginPath());
    }

    private static void reserved(Path file, String section, String key) {
        if (RESERVED.contains(key))
            throw new ConfigException("sweep file " + file + ": " + section + " key '" + key + "' is set by the sweep (use the top-level 'out')");
    }

    /** A plugins value: a list of names or one comma-separated string. */
    private static JsonNode pluginList(Path file, JsonNode v) {
        ArrayNode out = ConfigLoader.mapper().createArrayNode();
        if (v.isTextual()) {
            for (String s : v.asText().split(",")) if (!s.isBlank()) out.add(s.strip());
            return out;
        }
        if (!v.isArray()) throw new ConfigException("sweep file " + file + ": plugins value " + v + " must be a list of plugin names");
        for (JsonNode n : v) {
            if (!n.isTextual()) throw new ConfigException("sweep file " + file + ": plugin name " + n + " in " + v + " is not a string");
            out.add(n.asText());
        }
        return out;
    }

    /** Nested mappings become dotted keys (so that a key set here keeps its siblings from the base). */
    static void flatten(String prefix, JsonNode n, Map<String, JsonNode> into) {
        if (n instanceof ObjectNode o && !o.isEmpty()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
                var e = it.next();
                flatten(prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(), e.getValue(), into);
            }
        } else into.put(prefix, n);
    }

    /** The runs: the cartesian product of the matrix (the last key varies fastest). */
    public List<Run> runs() {
        List<Map<String, JsonNode>> combos = new ArrayList<>();
        combos.add(new LinkedHashMap<>());
        for (var e : matrix.entrySet()) {
            List<Map<String, JsonNode>> next = new ArrayList<>();
            for (var c : combos)
                for (JsonNode v : e.getValue()) {
                    Map<String, JsonNode> m = new LinkedHashMap<>(c);
                    m.put(e.getKey(), v);
                    next.add(m);
                }
            combos = next;
        }
        List<Run> runs = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (var c : combos) {
            Map<String, Object> overrides = new LinkedHashMap<>();
            set.forEach((k, v) -> overrides.put(k, v));
            Map<String, JsonNode> flat = new LinkedHashMap<>();
            c.forEach((k, v) -> flatten(k, v, flat));
            flat.forEach(overrides::put);
            String name = label(c, true), group = label(c, false);
            String unique = name;
            for (int i = 2; !names.add(unique); i++) unique = name + "-" + i;
            runs.add(new Run(unique, group, c, overrides));
        }
        return runs;
    }

    /** "plugins=mtp+cwd,seed=0" (without the seed when {@code withSeed} is false); "base" without a matrix. */
    static String label(Map<String, JsonNode> values, boolean withSeed) {
        List<String> parts = new ArrayList<>();
        for (var e : values.entrySet()) {
            if (!withSeed && e.getKey().equals("seed")) continue;
            String k = e.getKey().contains(".") ? e.getKey().substring(e.getKey().lastIndexOf('.') + 1) : e.getKey();
            parts.add(k + "=" + valueText(e.getValue()));
        }
        String s = parts.isEmpty() ? "base" : String.join(",", parts);
        return s.replaceAll("[^A-Za-z0-9._+=,-]", "_");
    }

    static String valueText(JsonNode v) {
        if (v.isArray()) {
            List<String> xs = new ArrayList<>();
            for (JsonNode n : v) xs.add(valueText(n));
            return xs.isEmpty() ? "none" : String.join("+", xs);
        }
        if (v.isObject()) {
            List<String> xs = new ArrayList<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
                var e = it.next();
                xs.add(e.getKey() + "-" + valueText(e.getValue()));
            }
            return String.join("+", xs);
        }
        return v.asText();
    }
}
