package dev.speedrun.app;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * {@code train-app} as a separate JVM for fault tests: the java binary and classpath of this test
 * JVM (not {@code ./train-app}, which would build), its output collected line by line, killable
 * with SIGKILL or interruptible with SIGINT.
 */
final class TrainProcess implements AutoCloseable {
    private final Process proc;
    private final List<String> lines = new ArrayList<>();
    private final Thread reader;

    private TrainProcess(Process proc) {
        this.proc = proc;
        this.reader = Thread.ofPlatform().daemon().name("train-process-out").start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(proc.getInputStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) {
                    synchronized (lines) { lines.add(l); lines.notifyAll(); }
                }
            } catch (IOException e) {
                // the process was killed: its output ends here
            }
            synchronized (lines) { lines.notifyAll(); }
        });
    }

    /** Starts {@code train-app <args>}; {@code systemProps} are {@code -Dk=v} entries (fault holds). */
    static TrainProcess start(List<String> args, List<String> systemProps) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        // the flags this JVM runs with (vector module, native access), not its heap or agents
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments())
            if (a.startsWith("--add-modules") || a.startsWith("--enable-native-access") || a.startsWith("jdk.incubator")) cmd.add(a);
        cmd.add("-Xmx1g");
        cmd.addAll(systemProps);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        return new TrainProcess(pb.start());
    }

    long pid() { return proc.pid(); }

    /** Waits up to {@code seconds} for an output line matching {@code p}; returns it, or fails with the output so far. */
    String await(Predicate<String> p, double seconds, String what) throws InterruptedException {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        synchronized (lines) {
            int seen = 0;
            while (true) {
                for (; seen < lines.size(); seen++) if (p.test(lines.get(seen))) return lines.get(seen);
                long left = end - System.nanoTime();
                if (left <= 0 || !proc.isAlive() && !reader.isAlive())
                    throw new AssertionError("no line " + what + " within " + seconds + " s (alive " + proc.isAlive() + "):\n" + output());
                lines.wait(Math.max(1, left / 1_000_000));
            }
        }
    }

    /** SIGKILL, and waits for the end. */
    void kill9() throws InterruptedException {
        proc.destroyForcibly();
        proc.waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGINT (Ctrl-C). */
    void interrupt() throws IOException, InterruptedException {
        Process k = new ProcessBuilder("kill", "-INT", String.valueOf(proc.pid())).inheritIO().start();
        if (k.waitFor() != 0) throw new IOException("kill -INT " + proc.pid() + " failed");
    }

    /** The exit status, waiting up to {@code seconds}; fails with the output when it does not end. */
    int waitFor(double seconds) throws InterruptedException {
        if (!proc.waitFor((long) (seconds * 1000), TimeUnit.MILLISECONDS))
            throw new AssertionError("the process did not end within " + seconds + " s:\n" + output());
        reader.join(10_000);
        return proc.exitValue();
    }

    String output() {
        synchronized (lines) { return String.join("\n", lines); }
    }

    List<String> lines() {
        synchronized (lines) { return List.copyOf(lines); }
    }

    @Override public void close() throws InterruptedException {
        if (proc.isAlive()) kill9();
    }
}
