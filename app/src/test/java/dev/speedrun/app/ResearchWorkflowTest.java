package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The research workflow end to end on the tiny test config: a sweep of 2 plugin sets × 2 seeds
 * of 4 steps stopped after 3 runs, one finished run cut back to its mid-run checkpoint as if interrupted,
 * resumed (bit-exactly), compared; then bench ab and sample on a run of it.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ResearchWorkflowTest {
    Path dir;
    Path sweepFile, sweepDir;
    CliRun first, resumed;
    double cutRunLossBefore;
    static final ObjectMapper JSON = new ObjectMapper();
    static final String CUT = "plugins=cwd,seed=0";

    @BeforeAll void sweepInterruptResume(@TempDir Path tmp) throws Exception {
        dir = tmp;
        sweepFile = TinyRunConfig.sweep(dir, 7, "ablation", "plugins: [[mtp, untie, cwd, adam-cwd-strict], [cwd]]", "seed: [0, 1]");
        sweepDir = dir.resolve("runs").resolve("ablation");
        first = CliRun.of("sweep", "--limit", "3", "--out", dir.resolve("runs").toString(), sweepFile.toString());
        // "interrupt" the third run after its step-2 checkpoint: drop its result and final checkpoint
        cutRunLossBefore = TinyRunConfig.interruptAfterStep2(sweepDir.resolve(CUT));
        resumed = CliRun.of("sweep", "--resume", "--out", dir.resolve("runs").toString(), sweepFile.toString());
    }

    @Test void sweepRunsStopsAndResumes() throws Exception {
        assertEquals(0, first.code(), first.all());
        assertTrue(first.out().contains("4 runs"), first.out());
        assertTrue(first.out().contains("stopping after 3 runs (--limit)"), first.out());
        assertEquals(0, resumed.code(), resumed.all());
        assertTrue(resumed.out().matches("(?s).*plugins=mtp\\+untie\\+cwd\\+adam-cwd-strict,seed=0 +4 +finished.*"), resumed.out());
        assertTrue(resumed.out().matches("(?s).*" + CUT.replace("+", "\\+") + " +4 +resume from step 2.*"), resumed.out());
        assertTrue(resumed.out().matches("(?s).*plugins=cwd,seed=1 +4 +to run.*"), resumed.out());
        assertTrue(resumed.out().contains("4 of 4 runs finished"), resumed.out());
        for (String run : List.of("plugins=mtp+untie+cwd+adam-cwd-strict,seed=0", "plugins=mtp+untie+cwd+adam-cwd-strict,seed=1", CUT,
                "plugins=cwd,seed=1"))
            assertTrue(Files.isRegularFile(sweepDir.resolve(run).resolve("result.json")), run);
        JsonNode cut = JSON.readTree(sweepDir.resolve(CUT).resolve("result.json").toFile());
        assertEquals(2, cut.get("resumed_from_step").asInt());
        assertEquals(cutRunLossBefore, cut.get("final_val_loss").asDouble(), 0.0, "resuming from the checkpoint is bit-exact");
        // seeds differ, plugin sets differ
        double a0 = finalLoss("plugins=cwd,seed=0"), a1 = finalLoss("plugins=cwd,seed=1");
        assertTrue(a0 != a1, "seeds give different runs");
    }

    @Test void compareWritesTheReportAndListsUnfinishedRuns() throws Exception {
        // an unfinished run next to the finished ones: listed, not averaged
        Path broken = sweepDir.resolve("broken");
        Files.createDirectories(broken);
        Files.copy(sweepDir.resolve(CUT).resolve("config.yaml"), broken.resolve("config.yaml"));
        List<String> lines = Files.readAllLines(sweepDir.resolve(CUT).resolve("metrics.jsonl"));
        Files.write(broken.resolve("metrics.jsonl"), lines.subList(0, 3));
        Path out = dir.resolve("report");
        CliRun r = CliRun.of("compare", "--out", out.toString(), "--baseline", "plugins=cwd", sweepDir.toString());
        assertEquals(0, r.code(), r.all());
        assertTrue(r.out().contains("4 finished runs in 2 groups"), r.out());
        assertTrue(r.out().contains("not included: broken (unfinished: at step 2 of 4)"), r.out());
        String md = Files.readString(out.resolve("report.md"));
        assertTrue(md.contains("`plugins=cwd`") && md.contains("`plugins=mtp+untie+cwd+adam-cwd-strict`"), md);
        assertTrue(md.contains("Target: 11.5000 (from the sweep file)"), md);
        assertTrue(md.contains("unfinished: at step 2 of 4"), md);
        for (String f : List.of("summary.csv", "summary.jsonl", "val_loss.svg", "final_val_loss.svg", "train_loss.svg", "train_time.svg"))
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        assertTrue(Files.readString(out.resolve("val_loss.svg")).startsWith("<svg"));
        // the csv's numbers are the statistics of the runs' final losses
        List<String> csv = Files.readAllLines(out.resolve("summary.csv"));
        assertEquals(3, csv.size(), String.join("\n", csv));
        String[] h = csv.get(0).split(",");
        String[] cwd = csv.stream().filter(l -> l.startsWith("\"plugins=cwd\"")).findFirst().orElseThrow().split(",");
        double x0 = finalLoss(CUT), x1 = finalLoss("plugins=cwd,seed=1");
        assertEquals("2", cwd[col(h, "n")]);
        assertEquals((x0 + x1) / 2, Double.parseDouble(cwd[col(h, "mean")]), 1e-12);
        assertEquals(Math.abs(x0 - x1) / Math.sqrt(2), Double.parseDouble(cwd[col(h, "std")]), 1e-12);
        long runLines = Files.readAllLines(out.resolve("summary.jsonl")).stream().filter(l -> l.contains("\"type\":\"run\"")).count();
        assertEquals(5, runLines);
        Files.walk(broken).sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }

    @Test void compareSaysWhenNothingFinished() throws Exception {
        Path only = dir.resolve("nothing-finished").resolve("run1");
        Files.createDirectories(only);
        Files.copy(sweepDir.resolve(CUT).resolve("config.yaml"), only.resolve("config.yaml"));
        Files.writeString(only.resolve("metrics.jsonl"), "");
        CliRun r = CliRun.of("compare", only.getParent().toString());
        assertEquals(1, r.code(), r.all());
        assertTrue(r.err().contains("no finished runs in"), r.err());
        CliRun empty = CliRun.of("compare", Files.createDirectories(dir.resolve("empty")).toString());
        assertEquals(1, empty.code());
        assertTrue(empty.err().contains("no run folders in"), empty.err());
    }

    @Test void badSweepInputIsNamedBeforeAnythingRuns() throws Exception {
        record Case(String matrix, String expected) {}
        for (Case c : List.of(new Case("max_stepz: [1]", "matrix key 'max_stepz' value 1: unknown key 'max_stepz'"),
                new Case("max_steps: [2, many]", "matrix key 'max_steps' value \"many\": bad value many for 'max_steps'"),
                new Case("plugins: [[cwd], [nope]]", "unknown plugin 'nope'"))) {
            Path f = dir.resolve("bad.yaml");
            Files.writeString(f, "base: tiny-cpu\nmatrix:\n  " + c.matrix() + "\n");
            Path out = dir.resolve("bad-runs");
            CliRun r = CliRun.of("sweep", "--out", out.toString(), f.toString());
            assertEquals(1, r.code(), r.all());
            assertTrue(r.err().contains(c.expected()), r.err());
            assertFalse(Files.exists(out), "nothing written");
        }
    }

    @Test void sampleGeneratesDeterministicTextFromACheckpoint() {
        Path run = sweepDir.resolve("plugins=mtp+untie+cwd+adam-cwd-strict,seed=0");
        CliRun a = CliRun.of("sample", "--checkpoint", run.toString(), "--prompt", "The", "--tokens", "3", "--seed", "3");
        CliRun b = CliRun.of("sample", "--checkpoint", run.resolve("checkpoints").resolve("step-000004").toString(), "--prompt", "The",
                "--tokens", "3", "--seed", "3");
        assertEquals(0, a.code(), a.all());
        assertTrue(a.out().contains("(step 4 of 4)"), a.out());
        String text = a.out().substring(a.out().indexOf('\n') + 1);
        assertTrue(text.startsWith("The") && text.length() > "The\n".length(), a.out());
        assertEquals(a.out().lines().skip(1).toList(), b.out().lines().skip(1).toList(), "same seed, same text");
        CliRun none = CliRun.of("sample", "--checkpoint", dir.toString());
        assertEquals(1, none.code());
        assertTrue(none.err().contains("no checkpoint there"), none.err());
    }

    @Test void benchAbAlternatesAndReportsTheMedianRatio() throws Exception {
        Path config = dir.resolve("tiny-test.yaml");
        CliRun r = CliRun.of("bench", "ab", "--a", config.toString(), "--b", config.toString(), "--b-set", "plugins=cwd", "--pairs", "2",
                "--steps", "1", "--warmup-steps", "0", "--warmup-pairs", "0", "--set", "validation.tokens=128", "--json", dir.resolve("ab.jsonl").toString());
        assertEquals(0, r.code(), r.all());
        List<String> pairs = new ArrayList<>(r.out().lines().filter(l -> l.matches(" +[12] +(AB|BA) .*")).toList());
        assertEquals(2, pairs.size(), r.out());
        assertTrue(pairs.get(0).contains(" AB ") && pairs.get(1).contains(" BA "), r.out());
        assertTrue(r.out().contains("median B/A") && r.out().contains("sign test"), r.out());
        try (Stream<String> s = Files.lines(dir.resolve("ab.jsonl"))) {
            assertEquals(3, s.count());
        }
    }

    private double finalLoss(String run) throws Exception {
        return JSON.readTree(sweepDir.resolve(run).resolve("result.json").toFile()).get("final_val_loss").asDouble();
    }

    private static int col(String[] header, String name) {
        for (int i = 0; i < header.length; i++) if (header[i].equals(name)) return i;
        throw new AssertionError("no column " + name);
    }
}
