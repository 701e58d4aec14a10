package dev.speedrun.app.research;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.speedrun.app.PluginOptions;
import dev.speedrun.app.PluginRegistry;
import dev.speedrun.app.RunLauncher;
import dev.speedrun.app.config.ConfigException;
import dev.speedrun.app.config.ConfigLoader;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.apache.commons.math3.distribution.BinomialDistribution;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code bench ab}: interleaved A/B timing of two training configurations in one process on the
 * same hardware. Each pair trains A and B for {@code warmup + steps} steps (fresh model, a
 * temporary run folder) in alternating, fixed or random order; a variant's time is the training
 * clock of the steps after the warm-up (validation excluded, as in training), so compilation,
 * JIT and first-touch costs stay out; the first {@code --warmup-pairs} pairs are not counted. Each
 * pair gives the ratio B/A; the report gives the median ratio, its quartiles and a
 * distribution-free 95% interval, and the sign test of "B is slower/faster".
 */
@Command(name = "ab", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Interleaved A/B timing: A and B alternate on the same hardware, each pair gives a ratio B/A;",
                "reports the median ratio with its spread and a sign test. Warm-up steps and pairs are excluded."})
public final class BenchAbCommand implements Callable<Integer> {
    @Option(names = "--a", required = true, paramLabel = "CONFIG_A", description = "Config (built-in name or YAML file) of variant A.") String a;
    @Option(names = "--b", required = true, paramLabel = "CONFIG_B", description = "Config of variant B.") String b;
    @Option(names = "--a-set", paramLabel = "KEY=VALUE", description = "Config key for A only (YAML value, e.g. plugins=[cwd]); repeatable.") List<String> aSet = new ArrayList<>();
    @Option(names = "--b-set", paramLabel = "KEY=VALUE", description = "Config key for B only; repeatable.") List<String> bSet = new ArrayList<>();
    @Option(names = "--set", paramLabel = "KEY=VALUE", description = "Config key for both (e.g. backend=cuda); repeatable.") List<String> set = new ArrayList<>();
    @Option(names = "--pairs", defaultValue = "5", paramLabel = "N", description = "Timed pairs (default ${DEFAULT-VALUE}).") int pairs;
    @Option(names = "--steps", defaultValue = "10", paramLabel = "N", description = "Timed training steps per variant and pair (default ${DEFAULT-VALUE}).") int steps;
    @Option(names = "--warmup-steps", defaultValue = "3", paramLabel = "N", description = "Untimed steps first in every run (default ${DEFAULT-VALUE}).") int warmupSteps;
    @Option(names = "--warmup-pairs", defaultValue = "1", paramLabel = "N", description = "Untimed pairs first (JIT, caches; default ${DEFAULT-VALUE}).") int warmupPairs;
    @Option(names = "--order", defaultValue = "alternate", paramLabel = "ORDER",
            description = "alternate (AB BA AB ...), ab (AB AB ...) or random (seeded; default ${DEFAULT-VALUE}).") String order;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the random order (default ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--json", paramLabel = "FILE", description = "Also write the pairs and the summary as JSON lines.") Path json;
    @Mixin PluginOptions plugin = new PluginOptions();

    PrintStream console = System.out;

    /** The median ratio B/A and the sign test, for tests. */
    record Summary(double[] ratios, double median, double q1, double q3, double ciLow, double ciHigh, Stats.Sign sign) {}

    Summary last;

    @Override public Integer call() throws IOException {
        if (pairs < 1) throw new ConfigException("--pairs must be ≥ 1, got " + pairs);
        if (steps < 1) throw new ConfigException("--steps must be ≥ 1, got " + steps);
        if (warmupSteps < 0 || warmupPairs < 0) throw new ConfigException("--warmup-steps and --warmup-pairs must be ≥ 0");
        if (!List.of("alternate", "ab", "random").contains(order))
            throw new ConfigException("--order must be alternate, ab or random, got '" + order + "'");
        PluginRegistry registry = plugin.registry();
        Path tmp = Files.createTempDirectory("bench-ab");
        try {
            Map<String, Object> common = overrides("--set", set);
            common.put("max_steps", warmupSteps + steps);
            common.put("checkpoint.every", 0);
            RunLauncher.Prepared pa = prepare("--a", a, common, overrides("--a-set", aSet), registry);
            RunLauncher.Prepared pb = prepare("--b", b, common, overrides("--b-set", bSet), registry);
            for (var p : List.of(pa, pb)) {
                RunLauncher.requireAvailable(p);
                if (p.config().trainSteps() < warmupSteps + steps)
                    throw new ConfigException(p.source() + " has only " + p.config().trainSteps() + " steps; lower --warmup-steps + --steps");
            }
            console.printf(Locale.ROOT, "bench ab: A = %s [%s], B = %s [%s]; backend %s / %s; %d warm-up + %d timed pairs of %d warm-up + %d timed steps, "
                            + "order %s%n", a, String.join(",", pa.config().plugins()), b, String.join(",", pb.config().plugins()),
                    pa.config().backend(), pb.config().backend(), warmupPairs, pairs, warmupSteps, steps, order);
            console.printf("  %-6s %-6s %12s %12s %10s%n", "pair", "order", "A ms/step", "B ms/step", "B/A");
            SplittableRandom rnd = new SplittableRandom(seed);
            double[] ratios = new double[pairs], ta = new double[pairs], tb = new double[pairs];
            List<ObjectNode> lines = new ArrayList<>();
            ObjectMapper om = new ObjectMapper();
            for (int i = 0; i < warmupPairs + pairs; i++) {
                boolean aFirst = switch (order) {
                    case "ab" -> true;
                    case "random" -> rnd.nextBoolean();
                    default -> i % 2 == 0;
                };
                double msA = 0, msB = 0;
                for (int k = 0; k < 2; k++) {
                    boolean isA = (k == 0) == aFirst;
                    double ms = timeOne(isA ? pa : pb, tmp.resolve("pair" + i + (isA ? "-a" : "-b")));
                    if (isA) msA = ms; else msB = ms;
                }
                boolean timed = i >= warmupPairs;
                String label = timed ? String.valueOf(i - warmupPairs + 1) : "warm-up";
                console.printf(Locale.ROOT, "  %-6s %-6s %12.3f %12.3f %10.4f%n", label, aFirst ? "AB" : "BA", msA, msB, msB / msA);
                if (timed) {
                    int j = i - warmupPairs;
                    ta[j] = msA;
                    tb[j] = msB;
                    ratios[j] = msB / msA;
                    lines.add(om.createObjectNode().put("type", "pair").put("pair", j + 1).put("order", aFirst ? "AB" : "BA")
                            .put("a_ms_per_step", msA).put("b_ms_per_step", msB).put("ratio", msB / msA));
                }
            }
            last = summarize(ratios);
            double[] qa = Stats.quartiles(ta), qb = Stats.quartiles(tb);
            console.printf(Locale.ROOT, "bench ab: median ms/step A %.3f, B %.3f%n", qa[1], qb[1]);
            console.printf(Locale.ROOT, "bench ab: median B/A %.4f (quartiles %.4f .. %.4f; range %.4f .. %.4f%s)%n", last.median(), last.q1(),
                    last.q3(), Arrays.stream(ratios).min().orElse(Double.NaN), Arrays.stream(ratios).max().orElse(Double.NaN),
                    Double.isNaN(last.ciLow()) ? "; 95% interval of the median needs ≥ 6 pairs"
                            : String.format(Locale.ROOT, "; 95%% interval of the median %.4f .. %.4f", last.ciLow(), last.ciHigh()));
            Stats.Sign s = last.sign();
            console.printf(Locale.ROOT, "bench ab: sign test: B slower in %d, faster in %d of %d pairs%s, two-sided p = %s%n", s.above(), s.below(),
                    pairs, s.ties() > 0 ? " (" + s.ties() + " ties)" : "", CompareCommand.p(s.pTwoSided()));
            if (json != null) {
                StringBuilder sb = new StringBuilder();
                for (ObjectNode o : lines) sb.append(o).append('\n');
                sb.append(om.createObjectNode().put("type", "summary").put("a", a).put("b", b).put("median_ratio", last.median())
                        .put("q1", last.q1()).put("q3", last.q3()).put("median_ci95_low", last.ciLow()).put("median_ci95_high", last.ciHigh())
                        .put("b_slower", s.above()).put("b_faster", s.below()).put("ties", s.ties()).put("sign_p_two_sided", s.pTwoSided())
                        .put("a_median_ms_per_step", qa[1]).put("b_median_ms_per_step", qb[1])).append('\n');
                SweepCommand.atomicWrite(json, sb.toString());
            }
            return 0;
        } finally {
            SweepCommand.deleteTree(tmp);
        }
    }

    /** Median, quartiles, the order-statistic 95% interval of the median (n ≥ 6) and the sign test against 1. */
    static Summary summarize(double[] ratios) {
        double[] q = Stats.quartiles(ratios);
        double[] sorted = ratios.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        double lo = Double.NaN, hi = Double.NaN;
        // the largest k with P(Bin(n, 1/2) ≤ k − 1) ≤ 0.025: [x_(k), x_(n−k+1)] covers the median with ≥ 95%
        BinomialDistribution bd = new BinomialDistribution(null, n, 0.5);
        int k = 0;
        while (k + 1 <= n && bd.cumulativeProbability(k) <= 0.025) k++;
        if (k >= 1) { lo = sorted[k - 1]; hi = sorted[n - k]; }
        return new Summary(ratios, q[1], q[0], q[2], lo, hi, Stats.sign(ratios, 1.0));
    }

    /** Trains one variant into {@code dir}; returns ms per step of the steps after the warm-up. */
    private double timeOne(RunLauncher.Prepared p, Path dir) throws IOException {
        try (PrintStream quiet = new PrintStream(OutputStream.nullOutputStream())) {
            RunLauncher.run(p, dir, null, quiet);
        }
        double before = 0, after = Double.NaN;
        ObjectMapper om = new ObjectMapper();
        for (String line : Files.readAllLines(dir.resolve("metrics.jsonl"))) {
            JsonNode n = om.readTree(line);
            if (n.path("train_loss").isNull()) continue;
            int s = n.path("step").asInt();
            if (s == warmupSteps) before = n.path("time_ms").asDouble();
            if (s == warmupSteps + steps) after = n.path("time_ms").asDouble();
        }
        SweepCommand.deleteTree(dir);
        return (after - before) / steps;
    }

    private static RunLauncher.Prepared prepare(String flag, String source, Map<String, Object> common, Map<String, Object> own,
                                                PluginRegistry registry) {
        Map<String, Object> o = new LinkedHashMap<>(common);
        o.putAll(own);
        try {
            return RunLauncher.prepare(source, o, registry);
        } catch (ConfigException e) {
            throw new ConfigException(flag + " " + source + ": " + e.getMessage(), e);
        }
    }

    /** KEY=VALUE flags; the value is read as YAML (numbers, lists, strings). */
    static Map<String, Object> overrides(String flag, List<String> kvs) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (String kv : kvs) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new ConfigException(flag + " " + kv + ": expected KEY=VALUE");
            String v = kv.substring(eq + 1);
            JsonNode node;
            try {
                node = ConfigLoader.mapper().readTree(v.isEmpty() ? "''" : v);
            } catch (IOException e) {
                throw new ConfigException(flag + " " + kv + ": value is not YAML: " + e.getMessage());
            }
            String key = kv.substring(0, eq).strip();
            if (key.equals("plugins") && node.isTextual()) {
                var list = ConfigLoader.mapper().createArrayNode();
                for (String s : node.asText().split(",")) if (!s.isBlank()) list.add(s.strip());
                node = list;
            }
            m.put(key, node);
        }
        return m;
    }
}
