package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer as a separate process, killed with SIGKILL inside a step, inside a validation and
 * inside a checkpoint write, and stopped with SIGINT, resumed with {@code --resume} after each:
 * the final weights, optimizer state, gradients, data position and metrics are bit-identical to
 * an uninterrupted run. With {@code -Dkill.soak=N} ({@code scripts/kill-soak.sh N}) it instead
 * runs N seeded kills at random points and random moments, run after run, and prints the counts.
 */
class KillResumeTest {
    @TempDir static Path tmp;
    static Path config;
    static Path reference;

    static final List<String> FILES = List.of("model.safetensors", "optimizer.safetensors", "grads-rank0.safetensors");

    @BeforeAll static void referenceRun() throws Exception {
        config = TinyRunConfig.write(tmp, 5, 2);
        TrainCommand ref = TinyRunConfig.command(config, tmp.resolve("ref"), null, null);
        assertEquals(0, ref.call());
        reference = ref.lastResult.runDir();
    }

    static List<String> trainArgs(Path out, Path resume) {
        List<String> a = new ArrayList<>(List.of("train", "--config", config.toString(), "--out", out.toString()));
        if (resume != null) a.addAll(List.of("--resume", resume.toString()));
        return a;
    }

    static String hold(String where, int step) { return "-D" + Faults.PROPERTY + "=" + where + ":" + step; }

    static Path onlyRun(Path out) throws Exception {
        try (Stream<Path> s = Files.list(out)) {
            List<Path> runs = s.filter(Files::isDirectory).toList();
            assertEquals(1, runs.size(), "one run folder in " + out + ": " + runs);
            return runs.getFirst();
        }
    }

    /** Starts a child with {@code holdAt} (null: none), waits for the hold, kills it with SIGKILL. */
    static String killAtHold(Path out, Path resume, String where, int step) throws Exception {
        try (TrainProcess p = TrainProcess.start(trainArgs(out, resume), List.of(hold(where, step)))) {
            p.await(l -> l.equals("train-app: fault hold " + where + " " + step), 240, "'fault hold " + where + " " + step + "'");
            p.kill9();
            return p.output();
        }
    }

    @Test void killedAndInterruptedRunsResumeBitExactly() throws Exception {
        Path out = tmp.resolve("killed");
        int total = stepsOf(reference);
        // 1. Ctrl-C once it is training: a checkpoint at the next step boundary, exit 130
        Path run;
        try (TrainProcess p = TrainProcess.start(trainArgs(out, null), List.of())) {
            p.await(l -> l.startsWith("step:1/"), 240, "step:1/");
            p.interrupt();
            int rc = p.waitFor(240);
            assertEquals(Interrupts.EXIT_CODE, rc, p.output());
            String stopped = p.await(l -> l.contains("interrupted: stopped after step"), 1, "the stop notice");
            Matcher m = Pattern.compile("stopped after step (\\d+)").matcher(stopped);
            assertTrue(m.find(), stopped);
            run = onlyRun(out);
            int at = Integer.parseInt(m.group(1));
            assertTrue(at <= 4 && at < total, "stopped early enough for the drill: " + stopped);
            assertTrue(Files.isRegularFile(TrainCheckpoint.folder(run, at).resolve(TrainCheckpoint.MANIFEST)), "checkpoint of the stop");
            TrainCheckpoint.verify(TrainCheckpoint.folder(run, at));
        }
        int kills = 0;
        // 2. SIGKILL inside the step after the stop's checkpoint
        int resumeAt = TrainCheckpoint.readState(TrainCheckpoint.resolve(run)).step();
        killAtHold(out, run, "step", resumeAt + 1);
        kills++;
        // 3. SIGKILL inside the write of the next checkpoint (every 2 steps): the half-written folder is skipped
        resumeAt = stepsOf(run);
        int nextCk = (resumeAt / 2 + 1) * 2;
        killAtHold(out, run, "checkpoint", nextCk);
        kills++;
        assertTrue(Files.isDirectory(run.resolve("checkpoints").resolve(String.format("step-%06d.tmp", nextCk))), "the interrupted write");
        // 4. SIGKILL inside the first validation at or after that checkpoint (val_every 3)
        int val = (nextCk + 2) / 3 * 3;
        assertTrue(val < total, "a validation before the end: " + val);
        String out4 = killAtHold(out, run, "validation", val);
        kills++;
        assertTrue(out4.contains("--resume skipped") && out4.contains(String.format("step-%06d.tmp", nextCk)),
                "the resume names the checkpoint it skipped:\n" + out4);
        // 5. the last resume finishes
        try (TrainProcess p = TrainProcess.start(trainArgs(out, run), List.of())) {
            assertEquals(0, p.waitFor(300), p.output());
            checkStepAvgAfterResume(p.lines());
        }
        assertSameAsReference(run);
        System.out.println("KillResumeTest: " + kills + " kills and 1 interrupt survived, bit-identical to the uninterrupted run");
    }

    /** A kill after the final checkpoint: the resume has nothing to train and leaves the final checkpoint as it was. */
    @Test void resumingAFinishedRunKeepsItsFinalCheckpoint() throws Exception {
        Path copy = tmp.resolve("finished");
        FaultsTest.copyTree(reference, copy);
        Files.createDirectories(copy.resolve("checkpoints"));
        Path fin = TrainCheckpoint.resolve(reference);
        FaultsTest.copyTree(fin, copy.resolve("checkpoints").resolve(fin.getFileName()));
        TrainCommand again = TinyRunConfig.command(config, tmp.resolve("unused"), null, null);
        again.resume = copy;
        assertEquals(0, again.call());
        assertEquals(0, again.lastResult.stepsTrained());
        assertSameAsReference(copy);
    }

    /** A second Ctrl-C exits at once, even where the run would not reach a step boundary (held in the first validation). */
    @Test void aSecondInterruptExitsAtOnce() throws Exception {
        Path out = tmp.resolve("twice");
        try (TrainProcess p = TrainProcess.start(trainArgs(out, null), List.of(hold("validation", 0)))) {
            p.await(l -> l.equals("train-app: fault hold validation 0"), 240, "the hold");
            p.interrupt();
            p.await(l -> l.contains("interrupted: stopping at the next step boundary"), 30, "the notice of the first interrupt");
            long t0 = System.nanoTime();
            p.interrupt();
            assertEquals(Interrupts.EXIT_CODE, p.waitFor(30), p.output());
            assertTrue((System.nanoTime() - t0) / 1e9 < 10, "exited at once");
            assertTrue(p.output().contains("interrupted twice: exiting now"), p.output());
        }
    }

    static int stepsOf(Path run) throws Exception {
        return TrainCheckpoint.readState(TrainCheckpoint.resolve(run)).step();
    }

    /** The first training line after a resume: step_avg is the whole clock over all steps done. */
    static void checkStepAvgAfterResume(List<String> lines) {
        Pattern p = Pattern.compile("step:(\\d+)/\\d+ train_loss:\\S+ train_time:(\\d+)ms step_avg:([0-9.]+)ms");
        for (String l : lines) {
            Matcher m = p.matcher(l);
            if (!m.find()) continue;
            int step = Integer.parseInt(m.group(1));
            double time = Double.parseDouble(m.group(2)), avg = Double.parseDouble(m.group(3));
            // train_time is printed rounded to 1 ms
            assertEquals(time / step, avg, 0.5 / step + 0.01, "step_avg of the first line after the resume: " + l);
            return;
        }
        fail("no training line after the resume:\n" + String.join("\n", lines));
    }

    static void assertSameAsReference(Path run) throws Exception {
        Path a = TrainCheckpoint.resolve(reference), b = TrainCheckpoint.resolve(run);
        assertEquals(a.getFileName(), b.getFileName(), "the final checkpoint");
        for (String f : FILES)
            if (Files.mismatch(a.resolve(f), b.resolve(f)) != -1)
                fail(f + " differs from the uninterrupted run at byte " + Files.mismatch(a.resolve(f), b.resolve(f)) + "; metadata "
                        + new java.util.TreeMap<>(dev.speedrun.model.Checkpoints.metadata(a.resolve(f))) + " vs "
                        + new java.util.TreeMap<>(dev.speedrun.model.Checkpoints.metadata(b.resolve(f))) + "; metrics.jsonl of the run:\n"
                        + String.join("\n", Files.readAllLines(RunLog.metricsFile(run))));
        var sa = TrainCheckpoint.readState(a).info();
        var sb = TrainCheckpoint.readState(b).info();
        for (String k : List.of("step", "data.shard", "data.cursor", "tokens")) assertEquals(sa.get(k), sb.get(k), k);
        assertEquals(withoutTimes(reference), withoutTimes(run), "metrics.jsonl (without the clock)");
    }

    /** metrics.jsonl without time_ms, the one field that differs between runs of the same state. */
    static List<String> withoutTimes(Path run) throws Exception {
        ObjectMapper json = new ObjectMapper();
        List<String> out = new ArrayList<>();
        for (String l : Files.readAllLines(RunLog.metricsFile(run))) {
            JsonNode n = json.readTree(l);
            ((ObjectNode) n).remove("time_ms");
            out.add(n.toString());
        }
        return out;
    }

    /** {@code -Dkill.soak=N}: N kills at seeded random holds and moments; runs restart when one finishes. */
    @Test void soak() throws Exception {
        String n = System.getProperty("kill.soak");
        org.junit.jupiter.api.Assumptions.assumeTrue(n != null && !n.isBlank(), "set -Dkill.soak=N (scripts/kill-soak.sh N)");
        int want = Integer.parseInt(n);
        Random rnd = new Random(Long.getLong("kill.soak.seed", 2026));
        int total = stepsOf(reference);
        String[] kinds = {"step", "validation", "checkpoint", "publish", "random"};
        int kills = 0, runs = 0, skippedSeen = 0;
        int[] byKind = new int[kinds.length];
        while (kills < want) {
            Path out = tmp.resolve("soak-" + runs++);
            Path run = null;
            while (true) {
                int at = run == null ? 0 : stepsOf(run);
                int kind = rnd.nextInt(kinds.length);
                String where = kinds[kind];
                List<String> props = new ArrayList<>();
                int step = 0;
                if (!where.equals("random")) {
                    // a point this attempt reaches: past its start; checkpoints at even steps, validations at multiples of 3
                    int lo = at + 1;
                    step = lo + rnd.nextInt(Math.max(1, total - lo));
                    if (where.equals("checkpoint") || where.equals("publish")) step += step % 2;
                    if (where.equals("validation")) step = (step + 2) / 3 * 3;
                    if (step >= total) where = "random";
                    else props.add(hold(where, step));
                }
                if (kills >= want) where = "none";
                try (TrainProcess p = TrainProcess.start(trainArgs(out, run), props)) {
                    if (where.equals("none")) {
                        assertEquals(0, p.waitFor(600), p.output());
                        break;
                    }
                    if (where.equals("random")) {
                        p.await(l -> l.startsWith("train-app: run folder"), 240, "the run folder");
                        Thread.sleep(rnd.nextInt(4000));
                        if (!p.lines().stream().anyMatch(l -> l.startsWith("train-app: done"))) {
                            p.kill9();
                            kills++;
                            byKind[4]++;
                        } else {
                            assertEquals(0, p.waitFor(60), p.output());
                            break;
                        }
                    } else {
                        final String w = where;
                        final int s = step;
                        p.await(l -> l.equals("train-app: fault hold " + w + " " + s), 240, "hold " + w + " " + s);
                        p.kill9();
                        kills++;
                        byKind[kind]++;
                    }
                    if (p.output().contains("--resume skipped")) skippedSeen++;
                }
                if (run == null) {
                    try (Stream<Path> s = Files.list(out)) { run = s.filter(Files::isDirectory).findFirst().orElse(null); }
                    if (run != null) {
                        try {
                            TrainCheckpoint.pick(run);
                        } catch (IllegalArgumentException noCheckpointYet) {
                            // killed before its first complete checkpoint: this run starts again from nothing
                            TrainCheckpoint.deleteTree(run);
                            run = null;
                        }
                    }
                }
            }
            if (run != null) assertSameAsReference(run);
            else assertSameAsReference(onlyRun(out));
        }
        System.out.printf("KillResumeTest soak: %d kills survived over %d runs (step %d, validation %d, checkpoint %d, publish %d, random %d);"
                + " %d resumes skipped a half-written checkpoint; every run bit-identical to the uninterrupted one%n",
                kills, runs, byKind[0], byKind[1], byKind[2], byKind[3], byKind[4], skippedSeen);
    }
}
