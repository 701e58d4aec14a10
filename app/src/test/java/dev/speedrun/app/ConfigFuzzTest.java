package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.speedrun.app.config.ConfigException;
import dev.speedrun.app.config.ConfigLoader;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded random mutations of the built-in configurations (wrong types, unknown keys, values out
 * of range, sections left out) and of the train command's flags: every invalid case is a
 * {@link ConfigException} (a one-line error, no stack trace) naming the key or flag; a mutation
 * that happens to stay valid must bind and validate. In this process, parsing only: hundreds of
 * cases in seconds.
 */
class ConfigFuzzTest {
    static final long SEED = Long.getLong("fuzz.seed", 178);
    static final int CASES_PER_CONFIG = Integer.getInteger("fuzz.cases", 150);
    static final JsonNodeFactory F = JsonNodeFactory.instance;

    @TempDir Path tmp;

    /** Every leaf (and every section) of a tree: dotted path → node, lists' elements as path[i]. */
    static void paths(String prefix, JsonNode n, List<String> out) {
        if (!prefix.isEmpty()) out.add(prefix);
        if (n.isObject()) n.fields().forEachRemaining(e -> paths(prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(), e.getValue(), out));
    }

    static ObjectNode parentOf(ObjectNode root, String path) {
        String[] parts = path.split("\\.");
        ObjectNode at = root;
        for (int i = 0; i < parts.length - 1; i++) at = (ObjectNode) at.get(parts[i]);
        return at;
    }

    static String leaf(String path) { return path.substring(path.lastIndexOf('.') + 1); }

    record Mutation(String kind, String key, JsonNode value) {}

    /** A mutation of {@code tree} (changed in place). */
    static Mutation mutate(ObjectNode tree, Random rnd) {
        List<String> all = new ArrayList<>();
        paths("", tree, all);
        // plugin options are the plugins' own (bound by each plugin's options record): not this loader's keys
        all.removeIf(p -> p.startsWith("plugin_options"));
        String path = all.get(rnd.nextInt(all.size()));
        ObjectNode parent = parentOf(tree, path);
        String name = leaf(path);
        JsonNode old = parent.get(name);
        int kind = rnd.nextInt(4);
        switch (kind) {
            case 0 -> {   // a value of the wrong type
                JsonNode v = old.isNumber() || old.isBoolean() ? (rnd.nextBoolean() ? F.textNode("lots") : F.objectNode().put("x", 1))
                        : old.isTextual() ? (rnd.nextBoolean() ? F.objectNode().put("x", 1) : F.arrayNode().add(F.objectNode()))
                        : old.isArray() ? (rnd.nextBoolean() ? F.textNode("many") : F.objectNode().put("x", 1))
                        : old.isObject() ? (rnd.nextBoolean() ? F.numberNode(7) : F.arrayNode().add(1)) : F.textNode("?");
                parent.set(name, v);
                return new Mutation("wrong type", path, v);
            }
            case 1 -> {   // an unknown key beside this one
                String k = name + "_typo" + rnd.nextInt(100);
                parent.put(k, 1);
                String p = path.contains(".") ? path.substring(0, path.lastIndexOf('.') + 1) + k : k;
                return new Mutation("unknown key", p, F.numberNode(1));
            }
            case 2 -> {   // out of range
                if (!old.isNumber() && !old.isArray()) return mutate(tree, rnd);
                JsonNode v;
                double[] bad = {-1, 0, -1e9, 1e300, -0.5};
                double b = bad[rnd.nextInt(bad.length)];
                if (old.isArray()) {
                    ArrayNode a = old.deepCopy();
                    if (a.isEmpty() || !a.get(0).isNumber()) return mutate(tree, rnd);
                    a.set(rnd.nextInt(a.size()), old.get(0).isIntegralNumber() ? F.numberNode((long) b) : F.numberNode(b));
                    v = a;
                } else v = old.isIntegralNumber() ? F.numberNode((long) b) : F.numberNode(b);
                parent.set(name, v);
                return new Mutation("out of range", path, v);
            }
            default -> {   // a section or key left out (null: what an empty YAML value gives)
                parent.putNull(name);
                return new Mutation("missing", path, F.nullNode());
            }
        }
    }

    @Test void mutatedBuiltInConfigsGiveOneLineErrorsNamingTheKey() {
        Random rnd = new Random(SEED);
        int cases = 0, errors = 0, valid = 0;
        List<String> problems = new ArrayList<>();
        for (String name : ConfigLoader.BUILT_IN) {
            ObjectNode base = ConfigLoader.resolveTree(name, Map.of());
            ConfigLoader.bind(base, name);   // the unmutated config is valid
            for (int i = 0; i < CASES_PER_CONFIG; i++) {
                ObjectNode t = base.deepCopy();
                Mutation m = mutate(t, rnd);
                cases++;
                try {
                    ConfigLoader.bind(t, name);
                    valid++;
                    // only a change that keeps the value in range may pass: a type change or unknown key never does
                    if (!m.kind().equals("out of range") && !(m.kind().equals("missing") && isOptional(m.key())))
                        problems.add(m + ": accepted");
                } catch (ConfigException e) {
                    errors++;
                    String msg = e.getMessage();
                    String section = m.key().contains(".") ? m.key().substring(0, m.key().indexOf('.')) : m.key();
                    boolean names = msg.contains(leaf(m.key()).replaceAll("\\[\\d+]$", "")) || m.kind().equals("missing") && msg.contains(section);
                    if (msg.contains("\n") || !names) problems.add(m + " -> " + msg);
                } catch (RuntimeException e) {
                    problems.add(m + " -> " + e.getClass().getName() + ": " + e.getMessage());
                }
            }
        }
        System.out.printf("ConfigFuzzTest: %d config mutations: %d rejected by name, %d valid%n", cases, errors, valid);
        assertEquals(List.of(), problems, problems.size() + " of " + cases + " cases");
    }

    /** Keys whose absence has a meaning (defaults). */
    static boolean isOptional(String key) {
        return List.of("precision", "plugins", "plugin_options").contains(key) || key.startsWith("plugin_options.");
    }

    /** Flags that are invalid by construction: each must stop the command with a one-line error naming the flag (or its key). */
    @Test void mutatedTrainFlagsGiveOneLineErrorsNamingTheFlag() throws Exception {
        // a configuration whose data folder does not exist: a flag accepted by mistake ends in an error naming train_data, not the flag
        Path cfg = tmp.resolve("nodata.yaml");
        Files.writeString(cfg, "backend: cpu\nworld_size: 1\nmicro_batches: 1\ntrain_data: " + tmp.resolve("absent") + "/x_train_*.bin\n"
                + "val_data: " + tmp.resolve("absent") + "/x_val_*.bin\n");
        Random rnd = new Random(SEED);
        record Flag(String name, List<String> bad) {}
        List<Flag> flags = List.of(
                new Flag("--steps", List.of("-1", "abc", "1.5", "-7")),
                new Flag("--world-size", List.of("0", "-2", "x", "2.0")),
                new Flag("--seed", List.of("seed", "1e3", "0x")),
                new Flag("--precision", List.of("f16", "fp32", "MIXEDx", "")),
                new Flag("--backend", List.of("tpu", "", "cuda-emux")),
                new Flag("--plugins", List.of("no-such-plugin", "mtp,nope")),
                new Flag("--resume", List.of(tmp.resolve("no-run").toString())),
                new Flag("--init-weights", List.of(tmp.resolve("no.safetensors").toString())),
                new Flag("--config", List.of(tmp.resolve("absent.yaml").toString(), "record-999")));
        int cases = 0;
        List<String> problems = new ArrayList<>();
        int want = Integer.getInteger("fuzz.flag.cases", 100);
        for (int i = 0; i < want; i++) {
            List<String> args = new ArrayList<>(List.of("train", "--out", tmp.resolve("runs").toString()));
            String named;
            int pick = rnd.nextInt(flags.size() + 2);
            boolean ownConfig = false;
            if (pick == flags.size()) {   // an unknown flag
                named = "--" + List.of("step", "stepz", "world_size", "lr", "resum").get(rnd.nextInt(5));
                args.addAll(List.of(named, "3"));
            } else if (pick == flags.size() + 1) {   // a flag without its value
                Flag f = flags.get(rnd.nextInt(flags.size() - 1));
                named = f.name();
                args.add(named);
            } else {
                Flag f = flags.get(pick);
                named = f.name();
                ownConfig = named.equals("--config");
                args.addAll(List.of(named, f.bad().get(rnd.nextInt(f.bad().size()))));
            }
            if (!ownConfig) { args.add("--config"); args.add(cfg.toString()); }
            // the flag without a value must be last
            if (pick == flags.size() + 1) { args.remove(named); args.add(named); }
            cases++;
            PrintStream oldOut = System.out, oldErr = System.err;
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code;
            try {
                System.setOut(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
                System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
                code = Main.execute(args.toArray(String[]::new));
            } finally {
                System.setOut(oldOut);
                System.setErr(oldErr);
            }
            String msg = err.toString(StandardCharsets.UTF_8).strip();
            String key = named.substring(2).replace('-', '_');
            boolean names = msg.contains(named) || msg.contains(key) || named.equals("--plugins") && msg.contains("plugin")
                    || named.equals("--config") && msg.contains("config");
            if (code == 0 || msg.contains("\n") || msg.contains("\tat ") || !msg.startsWith("error: ") || !names)
                problems.add(args + " -> " + code + ": " + msg);
        }
        System.out.printf("ConfigFuzzTest: %d flag mutations of train, each one line naming the flag%n", cases);
        assertEquals(List.of(), problems, problems.size() + " of " + cases + " cases");
    }
}
