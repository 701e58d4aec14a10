package dev.speedrun.app.research;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.speedrun.app.config.ConfigException;
import dev.speedrun.app.config.ConfigLoader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * What {@code compare} reads from one run folder: its resolved config.yaml (the {@code run}
 * section gives the steps it was to train), metrics.jsonl (validation and training losses, the
 * training clock), and from a sweep its sweep-run.json (group label, target) and failed.json.
 * A run is finished when metrics.jsonl has the validation at its last step.
 */
public record RunData(Path dir, String name, Status status, String note, Map<String, String> config, long seed, int trainSteps,
                      double finalValLoss, double trainTimeMs, List<double[]> valCurve, List<double[]> trainCurve,
                      String sweepGroup, Double target) {

    public enum Status { FINISHED, UNFINISHED, FAILED }

    /** Configuration keys that do not make runs different experiments. */
    static final List<String> NOT_GROUPED = List.of("seed", "out");

    /** The configuration without the seed (and the run folder parent): runs with equal keys are one group. */
    public String groupKey() {
        TreeMap<String, String> m = new TreeMap<>(config);
        NOT_GROUPED.forEach(m::remove);
        return m.toString();
    }

    public String valTokens() { return config.getOrDefault("validation.tokens", "?"); }

    public String valData() { return config.getOrDefault("val_data", "?"); }

    static boolean isRunFolder(Path d) {
        return Files.isRegularFile(d.resolve("config.yaml")) || Files.isRegularFile(d.resolve("metrics.jsonl"))
                || Files.isRegularFile(d.resolve(SweepCommand.SWEEP_RUN)) || Files.isRegularFile(d.resolve(SweepCommand.FAILED));
    }

    /** The run folders given: a run folder itself, or the run folders one or two levels below (a sweep, a runs folder). */
    public static List<Path> find(List<Path> given) {
        List<Path> out = new ArrayList<>();
        for (Path g : given) {
            if (!Files.isDirectory(g)) throw new ConfigException("compare: " + g + " is not a folder");
            if (isRunFolder(g)) { out.add(g); continue; }
            List<Path> found = new ArrayList<>();
            for (Path c : children(g)) {
                if (isRunFolder(c)) found.add(c);
                else for (Path cc : children(c)) if (isRunFolder(cc)) found.add(cc);
            }
            if (found.isEmpty()) throw new ConfigException("compare: no run folders in " + g + " (a run folder has config.yaml and metrics.jsonl)");
            out.addAll(found);
        }
        return out;
    }

    private static List<Path> children(Path d) {
        try (Stream<Path> s = Files.list(d)) {
            return s.filter(Files::isDirectory).filter(p -> !p.getFileName().toString().equals("checkpoints")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public static RunData read(Path dir) {
        ObjectMapper json = new ObjectMapper();
        String name = dir.getFileName().toString();
        try {
            String group = null;
            Double target = null;
            Path sr = dir.resolve(SweepCommand.SWEEP_RUN);
            if (Files.isRegularFile(sr)) {
                JsonNode n = json.readTree(sr.toFile());
                group = n.path("group").asText(null);
                if (n.hasNonNull("target")) target = n.get("target").asDouble();
            }
            Map<String, String> config = new TreeMap<>();
            int steps = -1;
            long seed = 0;
            Path cy = dir.resolve("config.yaml");
            if (Files.isRegularFile(cy)) {
                JsonNode tree = ConfigLoader.mapper().readTree(cy.toFile());
                if (tree instanceof ObjectNode o) {
                    steps = o.path(ConfigLoader.RUN_SECTION).path("train_steps").asInt(-1);
                    o.remove(ConfigLoader.RUN_SECTION);
                    flatten("", o, config);
                    seed = o.path("seed").asLong(0);
                }
            }
            List<double[]> val = new ArrayList<>(), train = new ArrayList<>();
            double time = Double.NaN;
            Path m = dir.resolve("metrics.jsonl");
            if (Files.isRegularFile(m))
                for (String line : Files.readAllLines(m)) {
                    if (line.isBlank()) continue;
                    JsonNode n;
                    try {
                        n = json.readTree(line);
                    } catch (IOException e) {
                        break;   // a line cut by an interruption
                    }
                    int step = n.path("step").asInt();
                    if (n.hasNonNull("val_loss")) val.add(new double[] {step, n.get("val_loss").asDouble()});
                    if (n.hasNonNull("train_loss")) train.add(new double[] {step, n.get("train_loss").asDouble()});
                    time = n.path("time_ms").asDouble(time);
                }
            double finalVal = val.isEmpty() ? Double.NaN : val.getLast()[1];
            Path failed = dir.resolve(SweepCommand.FAILED);
            if (Files.isRegularFile(failed)) {
                String err = json.readTree(failed.toFile()).path("error").asText("?");
                return new RunData(dir, name, Status.FAILED, "failed: " + err, config, seed, steps, finalVal, time, val, train, group, target);
            }
            if (config.isEmpty())
                return new RunData(dir, name, Status.UNFINISHED, "no config.yaml", config, seed, steps, finalVal, time, val, train, group, target);
            boolean done = steps >= 0 && !val.isEmpty() && (int) val.getLast()[0] == steps;
            if (!done) {
                int at = train.isEmpty() ? 0 : (int) train.getLast()[0];
                return new RunData(dir, name, Status.UNFINISHED, "unfinished: at step " + at + " of " + (steps < 0 ? "?" : steps), config, seed,
                        steps, finalVal, time, val, train, group, target);
            }
            if (!Double.isFinite(finalVal))
                return new RunData(dir, name, Status.FAILED, "final val_loss is " + finalVal, config, seed, steps, finalVal, time, val, train,
                        group, target);
            return new RunData(dir, name, Status.FINISHED, "", config, seed, steps, finalVal, time, val, train, group, target);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read run folder " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void flatten(String prefix, JsonNode n, Map<String, String> into) {
        if (n instanceof ObjectNode o) {
            for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
                var e = it.next();
                flatten(prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(), e.getValue(), into);
            }
        } else into.put(prefix, n.isTextual() ? n.asText() : n.toString());
    }
}
