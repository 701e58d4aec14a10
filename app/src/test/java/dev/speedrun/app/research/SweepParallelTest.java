package dev.speedrun.app.research;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.speedrun.app.CliRun;
import dev.speedrun.app.RunLauncher;
import dev.speedrun.app.TinyRunConfig;
import dev.speedrun.app.config.ConfigLoader;
import dev.speedrun.schedules.RecordSchedules;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * A sweep of three seeds of the tiny test config, two runs at a time in processes of their own
 * ({@code --parallel 2}): stopped after two runs, one of them cut back to its mid-run checkpoint,
 * resumed two at a time. The runs overlap in time, progress numbers and percentages follow the
 * runs, the resumed run ends bit-exactly where it ended before, and the time model counts the
 * validations and tokens the trainer really does. Then compare's refusals on inconsistent runs.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SweepParallelTest {
    static final String CUT = "seed=1";
    Path dir, sweepFile, runs, sweepDir;
    CliRun first, resumed;
    JsonNode cutBefore;
    boolean thirdUntouchedByFirst;

    @BeforeAll void sweepTwoAtATime(@TempDir Path tmp) throws Exception {
        dir = tmp;
        sweepFile = TinyRunConfig.sweep(dir, 11, "seeds", "seed: [0, 1, 2]");
        runs = dir.resolve("runs");
        sweepDir = runs.resolve("seeds");
        first = CliRun.of("sweep", "--parallel", "2", "--limit", "2", "--calibrate-steps", "0", "--out", runs.toString(), sweepFile.toString());
        thirdUntouchedByFirst = !Files.exists(sweepDir.resolve("seed=2"));
        cutBefore = SweepCommand.JSON.readTree(sweepDir.resolve(CUT).resolve("result.json").toFile());
        TinyRunConfig.interruptAfterStep2(sweepDir.resolve(CUT));
        resumed = CliRun.of("sweep", "--resume", "--parallel", "2", "--calibrate-steps", "0", "--out", runs.toString(), sweepFile.toString());
    }

    @Test void twoRunsAtATimeOverlapAndFinish() throws Exception {
        assertEquals(0, first.code(), first.all());
        assertTrue(first.out().contains("2 runs at a time"), first.out());
        assertTrue(first.out().contains("sweep [1/3] seed=0: training 4 steps (process 1)"), first.out());
        assertTrue(first.out().contains("sweep [2/3] seed=1: training 4 steps (process 2)"), first.out());
        assertTrue(first.out().contains("stopping after 2 runs (--limit)"), first.out());
        assertTrue(first.out().contains("2 of 3 runs finished;"), first.out());
        assertTrue(thirdUntouchedByFirst, "--limit 2 leaves the third run alone");
        // resumed: the cut run from its checkpoint and the third run, again side by side
        assertEquals(0, resumed.code(), resumed.all());
        assertTrue(resumed.out().contains("sweep [2/3] seed=1: resuming at step 2 of 4 (process 1)"), resumed.out());
        assertTrue(resumed.out().contains("sweep [3/3] seed=2: training 4 steps (process 2)"), resumed.out());
        assertTrue(resumed.out().contains("3 of 3 runs finished;"), resumed.out());
        JsonNode r0 = result("seed=0"), r1 = result(CUT), r2 = result("seed=2");
        assertOverlap(cutBefore, r0);
        assertOverlap(r1, r2);
        assertEquals(2, r1.get("resumed_from_step").asInt());
        assertEquals(cutBefore.get("final_val_loss").asDouble(), r1.get("final_val_loss").asDouble(), 0.0,
                "resumed in another process, bit-exactly where the whole run ended");
        // each process's trainer output went to its run's train.log
        assertTrue(Files.readString(sweepDir.resolve("seed=2").resolve("train.log")).contains("step:4/4 val_loss:"));
    }

    @Test void progressCountsRunsAndStepsAsTheyFinish() {
        // "k of 3 runs finished" rises by one per finished run; "% of steps" is the steps done (finished runs, and the
        // checkpointed steps of the cut run while it is not finished) over the sweep's 3 × 4 steps
        Pattern line = Pattern.compile("sweep \\[\\d/3] (seed=\\d): final val_loss [0-9.]+, [^;]+; sweep (\\d+)% of steps, (\\d) of 3 runs finished");
        int lines = 0;
        for (CliRun r : List.of(first, resumed)) {
            Set<String> finished = new HashSet<>(r == resumed ? Set.of("seed=0") : Set.of());
            Matcher m = line.matcher(r.out());
            while (m.find()) {
                lines++;
                finished.add(m.group(1));
                assertEquals(finished.size(), Integer.parseInt(m.group(3)), r.out());
                int stepsDone = 4 * finished.size() + (r == resumed && !finished.contains(CUT) ? 2 : 0);
                assertEquals(100 * stepsDone / 12, Integer.parseInt(m.group(2)), r.out());
            }
        }
        assertEquals(4, lines, first.out() + resumed.out());
    }

    @Test void timeModelCountsWhatTheTrainerDoes() throws Exception {
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("max_steps", 4);
        o.put("validation.tokens", 128);
        RunLauncher.Prepared p = RunLauncher.prepare(dir.resolve("tiny-test.yaml").toString(), o, List.of());
        RecordSchedules sched = p.injector().getInstance(RecordSchedules.class);
        List<JsonNode> metrics = Files.readAllLines(sweepDir.resolve("seed=0").resolve("metrics.jsonl")).stream().map(SweepParallelTest::json).toList();
        long validations = metrics.stream().filter(n -> !n.get("val_loss").isNull()).count();
        assertEquals(validations, SweepEstimate.validations(sched, 0, 4));
        assertEquals(metrics.getLast().get("tokens").asLong(), SweepEstimate.trainTokens(sched, 0, 4));
        // the resumed run redid the validation at its start only when the schedule validates there
        List<JsonNode> cut = Files.readAllLines(sweepDir.resolve(CUT).resolve("metrics.jsonl")).stream().map(SweepParallelTest::json).toList();
        assertEquals(validations, cut.stream().filter(n -> !n.get("val_loss").isNull()).count());
    }

    @Test void planShowsAnEstimateBeforeAnyRunFinished() throws Exception {
        Path out = dir.resolve("dry");
        CliRun r = CliRun.of("sweep", "--dry-run", "--calibrate-steps", "2", "--out", out.toString(), sweepFile.toString());
        assertEquals(0, r.code(), r.all());
        assertTrue(r.out().matches("(?s).*3 to train \\(12 steps\\), 0 finished; estimated time [0-9hms.]+ \\(from a 2-step calibration of seed=0\\).*"),
                r.out());
        assertFalse(Files.exists(out), "a dry run writes nothing");
        // the finished sweep's estimate comes from its runs
        CliRun again = CliRun.of("sweep", "--dry-run", "--out", runs.toString(), sweepFile.toString());
        assertTrue(again.out().contains("0 to train (0 steps), 3 finished; estimated time 0.0s (from the finished runs)"), again.out());
    }

    @Test void badSchedulingFlagsAreNamed() {
        String noGpus = CliRun.expect(1, "sweep", "--gpus-per-run", "2", "--out", dir.resolve("x").toString(), sweepFile.toString());
        assertTrue(noGpus.contains("--gpus-per-run 2: backend 'cpu' has no devices"), noGpus);
        String zero = CliRun.expect(1, "sweep", "--parallel", "0", "--out", dir.resolve("x").toString(), sweepFile.toString());
        assertTrue(zero.contains("--parallel must be ≥ 1, got 0"), zero);
        assertFalse(Files.exists(dir.resolve("x")));
    }

    @Test void compareRefusesRunsWithDifferentTargetsOrValidationSets() throws Exception {
        // the same runs, one of them told another target: compare wants --target
        Path other = copySweep("other-target");
        Path info = other.resolve("seed=0").resolve(SweepCommand.SWEEP_RUN);
        ObjectNode n = (ObjectNode) SweepCommand.JSON.readTree(info.toFile());
        Files.writeString(info, n.put("target", 9.0).toPrettyString());
        String err = CliRun.expect(1, "compare", other.toString());
        assertTrue(err.contains("different targets [9.0, 11.5]; give --target"), err);
        assertTrue(CliRun.expect(0, "compare", "--target", "11.5", other.toString()).contains("target 11.5000"));
        // one run validated on fewer tokens: its own group, not tested against the baseline
        Path fewer = copySweep("fewer-val-tokens");
        Path cfg = fewer.resolve("seed=2").resolve("config.yaml");
        ObjectNode tree = (ObjectNode) ConfigLoader.mapper().readTree(cfg.toFile());
        ((ObjectNode) tree.get("validation")).put("tokens", 64);
        Files.writeString(cfg, ConfigLoader.mapper().writeValueAsString(tree));
        String out = CliRun.expect(0, "compare", fewer.toString());
        assertTrue(out.contains("not compared with the baseline: validation.tokens=64: validation.tokens 64 vs 128 in the baseline"), out);
        assertTrue(Files.readString(fewer.resolve("report.md")).contains("| `validation.tokens=64` | not compared |"));
    }

    private Path copySweep(String name) throws Exception {
        Path to = dir.resolve(name);
        try (var s = Files.walk(sweepDir)) {
            for (Path p : s.toList()) {
                Path q = to.resolve(sweepDir.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(q); else Files.copy(p, q);
            }
        }
        return to;
    }

    private JsonNode result(String run) throws Exception {
        return SweepCommand.JSON.readTree(sweepDir.resolve(run).resolve("result.json").toFile());
    }

    private static void assertOverlap(JsonNode a, JsonNode b) {
        long start = Math.max(a.get("started_at_ms").asLong(), b.get("started_at_ms").asLong());
        long end = Math.min(a.get("finished_at_ms").asLong(), b.get("finished_at_ms").asLong());
        assertTrue(start < end, "runs " + a.get("run") + " and " + b.get("run") + " did not run at the same time: " + a + " " + b);
    }

    private static JsonNode json(String line) {
        try {
            return SweepCommand.JSON.readTree(line);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
