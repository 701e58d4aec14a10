package dev.speedrun.app.research;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.speedrun.app.config.ConfigException;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code compare RUN_OR_SWEEP_DIR...}: groups finished runs by their configuration without the
 * seed and reports per group n, mean, standard deviation and 95% interval of the final
 * validation loss, the one-sided t-test of the mean against the target, Welch's t-test and
 * Cohen's d against a baseline group, the same for the training time; writes report.md with SVG
 * plots, summary.csv and summary.jsonl. Failed and unfinished runs are listed, never averaged;
 * groups with different validation sets are not compared with each other.
 */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Compare runs: per group (config minus seed) n, mean, std, 95%% CI of the final val loss; one-sided t-test against",
                "the target; Welch's t-test and effect size against a baseline; training time. Writes report.md, SVG plots, summary.csv/jsonl."})
public final class CompareCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "RUN_OR_SWEEP_DIR", description = "Run folders, sweep folders or folders of runs.") List<Path> dirs;
    @Option(names = "--target", paramLabel = "LOSS", description = "Val-loss target of the one-sided t-test (default: the sweep file's target).") Double target;
    @Option(names = "--baseline", paramLabel = "NAME", description = "Group the others are compared with (default: the first group).") String baseline;
    @Option(names = "--out", paramLabel = "DIR", description = "Folder of report.md etc. (default: the folder given, when one is).") Path out;
    @Option(names = "--alpha", defaultValue = "0.01", paramLabel = "P", description = "Significance level shown in the verdicts (default ${DEFAULT-VALUE}).") double alpha;
    @Option(names = "--verbose", description = "Stack traces on errors.") boolean verbose;

    PrintStream console = System.out;

    /** One group of runs with equal configuration (seed aside). */
    record Group(String label, String key, List<RunData> runs) {
        double[] losses() { return runs.stream().mapToDouble(RunData::finalValLoss).toArray(); }

        double[] timesS() { return runs.stream().mapToDouble(r -> r.trainTimeMs() / 1000).toArray(); }

        RunData first() { return runs.getFirst(); }
    }

    @Override public Integer call() throws IOException {
        if (alpha <= 0 || alpha >= 1) throw new ConfigException("--alpha must be in (0, 1), got " + alpha);
        Path outDir = out != null ? out : dirs.size() == 1 ? dirs.getFirst() : null;
        if (outDir == null) throw new ConfigException("compare: give --out DIR for the report when comparing several folders");
        List<RunData> all = new ArrayList<>();
        for (Path d : RunData.find(dirs)) all.add(RunData.read(d));
        List<RunData> finished = all.stream().filter(r -> r.status() == RunData.Status.FINISHED).toList();
        List<RunData> left = all.stream().filter(r -> r.status() != RunData.Status.FINISHED).toList();
        if (finished.isEmpty()) {
            StringBuilder sb = new StringBuilder("compare: no finished runs in " + dirs + " (" + all.size() + " run folder"
                    + (all.size() == 1 ? "" : "s") + ": ");
            for (int i = 0; i < Math.min(5, left.size()); i++) sb.append(i > 0 ? "; " : "").append(left.get(i).name()).append(" ").append(left.get(i).note());
            throw new ConfigException(sb.append(left.size() > 5 ? "; ..." : "").append(")").toString());
        }
        // target: the flag, else the one of the runs (all must agree)
        Set<Double> targets = new TreeSet<>();
        for (RunData r : finished) if (r.target() != null) targets.add(r.target());
        double tgt;
        String tgtSource;
        if (target != null) { tgt = target; tgtSource = "--target"; }
        else if (targets.size() > 1) throw new ConfigException("compare: the runs have different targets " + targets + "; give --target");
        else if (targets.size() == 1) { tgt = targets.iterator().next(); tgtSource = "the sweep file"; }
        else { tgt = Double.NaN; tgtSource = "none (give --target or 'target:' in the sweep file)"; }

        List<Group> groups = group(finished);
        int base = 0;
        if (baseline != null) {
            base = -1;
            for (int i = 0; i < groups.size(); i++) if (groups.get(i).label().equals(baseline)) base = i;
            if (base < 0) {
                List<String> names = groups.stream().map(Group::label).toList();
                throw new ConfigException("--baseline '" + baseline + "' is not a group; groups: " + String.join(", ", names));
            }
        }
        Group bg = groups.get(base);

        List<Stats.Summary> loss = new ArrayList<>(), time = new ArrayList<>();
        List<Stats.OneSample> vsTarget = new ArrayList<>();
        List<Stats.Welch> lossW = new ArrayList<>(), timeW = new ArrayList<>();
        List<String> notComparable = new ArrayList<>();
        for (Group g : groups) {
            loss.add(Stats.summary(g.losses(), 0.95));
            time.add(Stats.summary(g.timesS(), 0.95));
            vsTarget.add(Double.isNaN(tgt) ? null : Stats.lessThan(g.losses(), tgt));
            String why = g == bg ? null : incomparable(g, bg);
            if (why != null) notComparable.add(g.label() + ": " + why);
            lossW.add(g == bg || why != null ? null : Stats.welch(g.losses(), bg.losses(), 0.95));
            timeW.add(g == bg || why != null ? null : Stats.welch(g.timesS(), bg.timesS(), 0.95));
        }

        Files.createDirectories(outDir);
        String md = report(all, left, groups, base, loss, time, vsTarget, lossW, timeW, notComparable, tgt, tgtSource);
        SweepCommand.atomicWrite(outDir.resolve("report.md"), md);
        SweepCommand.atomicWrite(outDir.resolve("summary.csv"), csv(groups, base, loss, time, vsTarget, lossW, timeW, tgt));
        SweepCommand.atomicWrite(outDir.resolve("summary.jsonl"), jsonl(all, groups, base, loss, time, vsTarget, lossW, timeW, tgt));
        List<String> labels = groups.stream().map(Group::label).toList();
        List<SvgChart.Curve> valCurves = new ArrayList<>(), trainCurves = new ArrayList<>();
        for (int g = 0; g < groups.size(); g++)
            for (RunData r : groups.get(g).runs()) {
                valCurves.add(new SvgChart.Curve(g, r.valCurve()));
                trainCurves.add(new SvgChart.Curve(g, r.trainCurve()));
            }
        SweepCommand.atomicWrite(outDir.resolve("val_loss.svg"), SvgChart.curves("validation loss, every run", "step", "val loss", labels, valCurves));
        SweepCommand.atomicWrite(outDir.resolve("train_loss.svg"), SvgChart.curves("training loss, every run", "step", "train loss", labels, trainCurves));
        SweepCommand.atomicWrite(outDir.resolve("final_val_loss.svg"), SvgChart.distributions("final validation loss per group", "final val loss",
                labels, groups.stream().map(Group::losses).toList(), loss, tgt, "target " + tgt));
        SweepCommand.atomicWrite(outDir.resolve("train_time.svg"), SvgChart.distributions("training time per group", "training time (s)",
                labels, groups.stream().map(Group::timesS).toList(), time, Double.NaN, ""));

        // console: the main table
        console.printf("compare: %d finished run%s in %d group%s%s; target %s; baseline %s%n", finished.size(), finished.size() == 1 ? "" : "s",
                groups.size(), groups.size() == 1 ? "" : "s", left.isEmpty() ? "" : ", " + left.size() + " not finished (listed in the report)",
                Double.isNaN(tgt) ? "none" : fmt("%.4f", tgt), bg.label());
        console.printf("  %-44s %3s %9s %8s %21s %10s %10s %9s%n", "group", "n", "mean", "std", "95% CI", "p(<target)", "p(vs base)", "time s");
        for (int g = 0; g < groups.size(); g++) {
            Stats.Summary s = loss.get(g);
            console.printf("  %-44s %3d %9.4f %8.4f %21s %10s %10s %9.2f%n", SvgChart.shorten(groups.get(g).label(), 44), s.n(), s.mean(), s.sd(),
                    fmt("[%.4f, %.4f]", s.ciLow(), s.ciHigh()), vsTarget.get(g) == null ? "-" : p(vsTarget.get(g).pLess()),
                    lossW.get(g) == null ? (g == base ? "baseline" : "n/a") : p(lossW.get(g).pTwoSided()), time.get(g).mean());
        }
        for (String s : notComparable) console.println("  not compared with the baseline: " + s);
        for (RunData r : left) console.println("  not included: " + r.name() + " (" + r.note() + ")");
        console.println("compare: wrote " + outDir.resolve("report.md") + " (+ summary.csv, summary.jsonl, val_loss.svg, train_loss.svg, "
                + "final_val_loss.svg, train_time.svg)");
        return 0;
    }

    /** Groups by configuration minus the seed, labelled by the sweep's group name or by the keys in which the groups differ. */
    static List<Group> group(List<RunData> runs) {
        Map<String, List<RunData>> byKey = new LinkedHashMap<>();
        for (RunData r : runs) byKey.computeIfAbsent(r.groupKey(), k -> new ArrayList<>()).add(r);
        // keys whose values differ between groups
        Set<String> differing = new TreeSet<>();
        List<RunData> firsts = byKey.values().stream().map(List::getFirst).toList();
        Set<String> keys = new TreeSet<>();
        for (RunData r : firsts) keys.addAll(r.config().keySet());
        keys.removeAll(RunData.NOT_GROUPED);
        for (String k : keys) {
            Set<String> vals = new LinkedHashSet<>();
            for (RunData r : firsts) vals.add(r.config().getOrDefault(k, "(unset)"));
            if (vals.size() > 1) differing.add(k);
        }
        List<Group> out = new ArrayList<>();
        Set<String> used = new LinkedHashSet<>();
        for (var e : byKey.entrySet()) {
            List<RunData> rs = e.getValue();
            String sweep = rs.getFirst().sweepGroup();
            boolean sameSweep = sweep != null && rs.stream().allMatch(r -> sweep.equals(r.sweepGroup()));
            String label;
            if (sameSweep && !sweep.equals("base")) label = sweep;
            else if (differing.isEmpty()) label = "all";
            else {
                List<String> parts = new ArrayList<>();
                // plugin options follow the plugins: shown only when the plugins agree
                boolean pluginsDiffer = differing.contains("plugins");
                for (String k : differing)
                    if (!(pluginsDiffer && k.startsWith("plugin_options."))) parts.add(k + "=" + rs.getFirst().config().getOrDefault(k, "(unset)"));
                label = String.join(",", parts);
            }
            String unique = label;
            for (int i = 2; !used.add(unique); i++) unique = label + " #" + i;
            out.add(new Group(unique, e.getKey(), rs));
        }
        return out;
    }

    /** Why two groups' losses are not comparable (different validation data or token count), or null. */
    static String incomparable(Group a, Group b) {
        RunData x = a.first(), y = b.first();
        if (!x.valTokens().equals(y.valTokens())) return "validation.tokens " + x.valTokens() + " vs " + y.valTokens() + " in the baseline";
        if (!x.valData().equals(y.valData())) return "val_data " + x.valData() + " vs " + y.valData() + " in the baseline";
        return null;
    }

    private String report(List<RunData> all, List<RunData> left, List<Group> groups, int base, List<Stats.Summary> loss, List<Stats.Summary> time,
                          List<Stats.OneSample> vsTarget, List<Stats.Welch> lossW, List<Stats.Welch> timeW, List<String> notComparable,
                          double tgt, String tgtSource) {
        StringBuilder sb = new StringBuilder();
        sb.append("# Comparison of ").append(String.join(", ", dirs.stream().map(Path::toString).toList())).append("\n\n");
        sb.append(fmt("%d run folder%s: %d finished in %d group%s, %d not finished. Groups are runs with the same configuration apart from the seed. "
                        + "Target: %s (from %s). Baseline: `%s`. Significance level shown: %s.%n%n", all.size(), all.size() == 1 ? "" : "s",
                all.size() - left.size(), groups.size(), groups.size() == 1 ? "" : "s", left.size(), Double.isNaN(tgt) ? "none" : fmt("%.4f", tgt), tgtSource, groups.get(base).label(), alpha));
        sb.append("## Final validation loss\n\n");
        sb.append("Mean ± 95% t interval; the one-sided one-sample t-test has H1: mean < target.\n\n");
        sb.append("| group | n | mean | std | 95% CI | t vs target | p (mean < target) | verdict |\n|---|---:|---:|---:|---|---:|---:|---|\n");
        for (int g = 0; g < groups.size(); g++) {
            Stats.Summary s = loss.get(g);
            Stats.OneSample o = vsTarget.get(g);
            sb.append(fmt("| `%s` | %d | %.4f | %s | %s | %s | %s | %s |%n", groups.get(g).label(), s.n(), s.mean(), num(s.sd(), 4),
                    ci(s, 4), o == null ? "-" : num(o.t(), 3), o == null ? "-" : p(o.pLess()),
                    o == null || Double.isNaN(o.pLess()) ? "-" : o.pLess() < alpha ? "below target" : "not shown below target"));
        }
        sb.append("\n## Against the baseline (Welch's t-test)\n\n");
        sb.append("Δ = group mean − baseline mean; negative is better. Cohen's d uses the pooled standard deviation.\n\n");
        sb.append("| group | Δ val loss | 95% CI of Δ | t | df | p (two-sided) | p (Δ < 0) | Cohen's d |\n|---|---:|---|---:|---:|---:|---:|---:|\n");
        for (int g = 0; g < groups.size(); g++) {
            if (g == base) continue;
            Stats.Welch w = lossW.get(g);
            if (w == null) { sb.append(fmt("| `%s` | not compared | | | | | | |%n", groups.get(g).label())); continue; }
            sb.append(fmt("| `%s` | %+.4f | %s | %s | %s | %s | %s | %s |%n", groups.get(g).label(), w.diff(), ciW(w, 4), num(w.t(), 3), num(w.df(), 1),
                    p(w.pTwoSided()), p(w.pLess()), num(w.cohenD(), 2)));
        }
        for (String s : notComparable) sb.append("\nNot compared with the baseline: ").append(s).append(" (different validation sets are different measurements).\n");
        sb.append("\n## Training time\n\n");
        sb.append("The training clock of metrics.jsonl (validation excluded). Runs of a sweep ran on the same machine, one after the other "
                + "or side by side (`--parallel`); for timing claims use `train-app bench ab`, which interleaves the variants.\n\n");
        sb.append("| group | n | mean s | std s | 95% CI s | Δ vs baseline s | ratio | p (two-sided) |\n|---|---:|---:|---:|---|---:|---:|---:|\n");
        for (int g = 0; g < groups.size(); g++) {
            Stats.Summary s = time.get(g);
            Stats.Welch w = timeW.get(g);
            sb.append(fmt("| `%s` | %d | %.2f | %s | %s | %s | %s | %s |%n", groups.get(g).label(), s.n(), s.mean(), num(s.sd(), 2), ci(s, 2),
                    w == null ? (g == base ? "baseline" : "-") : fmt("%+.2f", w.diff()),
                    g == base ? "1" : fmt("%.3f", s.mean() / time.get(base).mean()), w == null ? "-" : p(w.pTwoSided())));
        }
        sb.append("\n## Plots\n\n![validation loss](val_loss.svg)\n\n![final validation loss per group](final_val_loss.svg)\n\n"
                + "![training loss](train_loss.svg)\n\n![training time per group](train_time.svg)\n");
        sb.append("\n## Runs\n\n| run | group | seed | status | final val loss | train time s |\n|---|---|---:|---|---:|---:|\n");
        for (int g = 0; g < groups.size(); g++)
            for (RunData r : groups.get(g).runs())
                sb.append(fmt("| %s | `%s` | %d | finished | %.4f | %.2f |%n", r.dir(), groups.get(g).label(), r.seed(), r.finalValLoss(), r.trainTimeMs() / 1000));
        for (RunData r : left)
            sb.append(fmt("| %s | - | %d | %s | - | - |%n", r.dir(), r.seed(), r.note()));
        if (!left.isEmpty()) sb.append("\nRuns that failed or did not finish are listed above and are not part of any statistic.\n");
        sb.append("\nFiles: summary.csv (one row per group), summary.jsonl (one object per group and per run).\n");
        return sb.toString();
    }

    private String csv(List<Group> groups, int base, List<Stats.Summary> loss, List<Stats.Summary> time, List<Stats.OneSample> vsTarget,
                       List<Stats.Welch> lossW, List<Stats.Welch> timeW, double tgt) {
        StringBuilder sb = new StringBuilder("group,n,mean,std,ci95_low,ci95_high,target,t_target,p_below_target,baseline,diff,diff_ci95_low,"
                + "diff_ci95_high,welch_t,welch_df,p_two_sided,p_less,cohen_d,time_mean_s,time_std_s,time_ci95_low,time_ci95_high,time_diff_s,time_p_two_sided\n");
        for (int g = 0; g < groups.size(); g++) {
            Stats.Summary s = loss.get(g), t = time.get(g);
            Stats.OneSample o = vsTarget.get(g);
            Stats.Welch w = lossW.get(g), tw = timeW.get(g);
            sb.append(String.join(",", List.of(quote(groups.get(g).label()), String.valueOf(s.n()), c(s.mean()), c(s.sd()), c(s.ciLow()), c(s.ciHigh()),
                    c(tgt), o == null ? "" : c(o.t()), o == null ? "" : c(o.pLess()), quote(groups.get(base).label()),
                    w == null ? "" : c(w.diff()), w == null ? "" : c(w.ciLow()), w == null ? "" : c(w.ciHigh()), w == null ? "" : c(w.t()),
                    w == null ? "" : c(w.df()), w == null ? "" : c(w.pTwoSided()), w == null ? "" : c(w.pLess()), w == null ? "" : c(w.cohenD()),
                    c(t.mean()), c(t.sd()), c(t.ciLow()), c(t.ciHigh()), tw == null ? "" : c(tw.diff()), tw == null ? "" : c(tw.pTwoSided()))))
                    .append('\n');
        }
        return sb.toString();
    }

    private String jsonl(List<RunData> all, List<Group> groups, int base, List<Stats.Summary> loss, List<Stats.Summary> time,
                         List<Stats.OneSample> vsTarget, List<Stats.Welch> lossW, List<Stats.Welch> timeW, double tgt) {
        ObjectMapper json = new ObjectMapper();
        StringBuilder sb = new StringBuilder();
        for (int g = 0; g < groups.size(); g++) {
            ObjectNode o = json.createObjectNode().put("type", "group").put("group", groups.get(g).label()).put("baseline", g == base);
            o.set("val_loss", json.valueToTree(loss.get(g)));
            if (vsTarget.get(g) != null) o.set("vs_target", json.valueToTree(vsTarget.get(g)));
            if (lossW.get(g) != null) o.set("vs_baseline", json.valueToTree(lossW.get(g)));
            o.set("train_time_s", json.valueToTree(time.get(g)));
            if (timeW.get(g) != null) o.set("train_time_vs_baseline", json.valueToTree(timeW.get(g)));
            sb.append(o).append('\n');
        }
        Map<RunData, String> groupOf = new LinkedHashMap<>();
        for (Group g : groups) for (RunData r : g.runs()) groupOf.put(r, g.label());
        for (RunData r : all) {
            ObjectNode o = json.createObjectNode().put("type", "run").put("run", r.dir().toString()).put("status", r.status().name().toLowerCase(Locale.ROOT));
            if (groupOf.containsKey(r)) o.put("group", groupOf.get(r));
            o.put("seed", r.seed()).put("steps", r.trainSteps());
            if (Double.isFinite(r.finalValLoss())) o.put("final_val_loss", r.finalValLoss());
            if (Double.isFinite(r.trainTimeMs())) o.put("train_time_ms", r.trainTimeMs());
            if (!r.note().isEmpty()) o.put("note", r.note());
            sb.append(o).append('\n');
        }
        return sb.toString();
    }

    private static String quote(String s) { return "\"" + s.replace("\"", "\"\"") + "\""; }

    private static String c(double v) { return Double.isFinite(v) ? String.valueOf(v) : ""; }

    private static String ci(Stats.Summary s, int d) {
        return Double.isNaN(s.ciLow()) ? "-" : fmt("[%." + d + "f, %." + d + "f]", s.ciLow(), s.ciHigh());
    }

    private static String ciW(Stats.Welch w, int d) {
        return Double.isNaN(w.ciLow()) ? "-" : fmt("[%+." + d + "f, %+." + d + "f]", w.ciLow(), w.ciHigh());
    }

    static String p(double p) { return Double.isNaN(p) ? "n/a" : p < 1e-4 ? fmt("%.1e", p) : fmt("%.4f", p); }

    private static String num(double v, int d) { return Double.isNaN(v) ? "n/a" : fmt("%." + d + "f", v); }

    static String fmt(String f, Object... a) { return String.format(Locale.ROOT, f, a); }
}
