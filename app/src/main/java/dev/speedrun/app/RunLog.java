package dev.speedrun.app;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What rank 0 reports of a run: {@code metrics.jsonl} (one line per training step and per
 * validation), the console lines, the progress bar on standard error, and the loss plot. The
 * other ranks get a log that reports nothing.
 */
final class RunLog implements AutoCloseable {
    private final Path runDir;
    private final BufferedWriter metrics;
    private final ObjectMapper json = new ObjectMapper();
    private final List<LossPlot.Point> trainPts = new ArrayList<>(), valPts = new ArrayList<>();
    private final PrintStream console;
    private final boolean progressBar;
    private final int trainSteps;

    private RunLog(Path runDir, BufferedWriter metrics, PrintStream console, boolean progressBar, int trainSteps) {
        this.runDir = runDir;
        this.metrics = metrics;
        this.console = console;
        this.progressBar = progressBar;
        this.trainSteps = trainSteps;
    }

    /** The log of a rank other than 0. */
    static RunLog silent() { return new RunLog(null, null, null, false, 0); }

    /**
     * Rank 0's log of a run of {@code trainSteps} steps starting at {@code start}. A resumed run
     * keeps the metrics of the steps before it (and reloads them for the plot), dropping the
     * validation at {@code start} when {@code redoVal} (this run does it again); a new one starts
     * an empty file.
     */
    static RunLog lead(Path runDir, boolean resumed, int start, boolean redoVal, int trainSteps, PrintStream console,
                       boolean progressBar) throws IOException {
        Path file = metricsFile(runDir);
        List<LossPlot.Point> train = new ArrayList<>(), val = new ArrayList<>();
        if (resumed) readMetrics(file, new ObjectMapper(), start, redoVal, train, val);
        RunLog log = new RunLog(runDir, Files.newBufferedWriter(file, StandardOpenOption.CREATE,
                resumed ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE),
                console, progressBar, trainSteps);
        log.trainPts.addAll(train);
        log.valPts.addAll(val);
        return log;
    }

    static Path metricsFile(Path runDir) { return runDir.resolve("metrics.jsonl"); }

    /** The validation loss {@code valLoss} at {@code step} (steps done). */
    void validation(int step, double valLoss, long valTokens, double lr, long tokens, double trainTimeMs) throws IOException {
        if (metrics == null) return;
        valPts.add(new LossPlot.Point(step, valLoss));
        writeMetric(step, Double.NaN, valLoss, valTokens, lr, tokens, trainTimeMs);
        clearBar();
        console.printf(Locale.ROOT, "step:%d/%d val_loss:%.4f train_time:%.0fms step_avg:%.2fms%n", step, trainSteps, valLoss,
                trainTimeMs, step == 0 ? 0.0 : trainTimeMs / step);
    }

    /** The training loss of the step that made {@code stepsDone} steps. */
    void trainStep(int stepsDone, double trainLoss, double lr, long tokens, double trainTimeMs) throws IOException {
        if (metrics == null) return;
        trainPts.add(new LossPlot.Point(stepsDone, trainLoss));
        writeMetric(stepsDone, trainLoss, Double.NaN, 0, lr, tokens, trainTimeMs);
        clearBar();
        // the clock of a resumed run includes the steps before the resume: the average is over all of them
        double avg = trainTimeMs / stepsDone;
        console.printf(Locale.ROOT, "step:%d/%d train_loss:%.4f train_time:%.0fms step_avg:%.2fms%n", stepsDone, trainSteps,
                trainLoss, trainTimeMs, avg);
        bar(stepsDone, trainSteps, avg);
    }

    /** Clears the progress bar and writes {@code loss.svg}; returns its path. */
    Path plot(String title) throws IOException {
        clearBar();
        Path plot = runDir.resolve("loss.svg");
        LossPlot.write(plot, title, trainPts, valPts);
        return plot;
    }

    @Override public void close() throws IOException {
        if (metrics != null) metrics.close();
    }

    /** One metrics.jsonl line; a validation line carries the tokens it evaluated ({@code val_tokens}, null elsewhere). */
    private void writeMetric(int step, double trainLoss, double valLoss, long valTokens, double lr, long tokens, double timeMs) throws IOException {
        ObjectNode o = json.createObjectNode();
        o.put("step", step);
        if (Double.isNaN(trainLoss)) o.putNull("train_loss"); else o.put("train_loss", trainLoss);
        if (Double.isNaN(valLoss)) o.putNull("val_loss"); else o.put("val_loss", valLoss);
        if (Double.isNaN(valLoss)) o.putNull("val_tokens"); else o.put("val_tokens", valTokens);
        o.put("lr", lr);
        o.put("tokens", tokens);
        o.put("time_ms", Math.round(timeMs * 1000) / 1000.0);
        // flushed per line: the file is complete up to the last step whatever happens next
        metrics.write(json.writeValueAsString(o));
        metrics.write('\n');
        metrics.flush();
    }

    /**
     * On resume: keeps the metrics of steps before the checkpoint (drops any written after it, and
     * a last line cut short by a kill) and reloads them for the plot. The kept lines replace the
     * file through a temporary file and a rename: a kill during the rewrite loses nothing.
     */
    private static void readMetrics(Path file, ObjectMapper json, int upTo, boolean redoVal, List<LossPlot.Point> train,
                                    List<LossPlot.Point> val)
            throws IOException {
        if (!Files.isRegularFile(file)) return;
        List<String> kept = new ArrayList<>();
        List<String> lines = Files.readAllLines(file);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) continue;
            com.fasterxml.jackson.databind.JsonNode n;
            try {
                n = json.readTree(line);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                n = null;
            }
            if (n == null || !n.has("step") || !n.has("val_loss") || !n.has("train_loss")) {
                // lines are written whole and flushed one by one: only the last can be cut short
                if (i == lines.size() - 1) continue;
                throw new IOException(file + " line " + (i + 1) + " is not a metrics line: " + line);
            }
            int step = n.get("step").asInt();
            boolean isVal = !n.get("val_loss").isNull();
            if (step > upTo || isVal && step == upTo && redoVal) continue;   // redone by this run
            kept.add(line);
            if (isVal) val.add(new LossPlot.Point(step, n.get("val_loss").asDouble()));
            else train.add(new LossPlot.Point(step, n.get("train_loss").asDouble()));
        }
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.write(tmp, kept);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    private void bar(int done, int total, double msPerStep) {
        if (!progressBar) return;
        int width = 30, filled = (int) ((long) width * done / Math.max(1, total));
        double etaS = (total - done) * msPerStep / 1000;
        System.err.printf(Locale.ROOT, "\r[%s%s] %3d%% eta %dm%02ds", "#".repeat(filled), ".".repeat(width - filled),
                100L * done / Math.max(1, total), (long) etaS / 60, (long) etaS % 60);
        System.err.flush();
    }

    private void clearBar() {
        if (progressBar) { System.err.print("\r\033[K"); System.err.flush(); }
    }
}
