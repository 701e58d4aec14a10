package dev.speedrun.app;

import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * Fault drills for the kill/resume harness: with the system property {@value #PROPERTY} set to
 * {@code where:step[,where:step...]} (e.g. {@code checkpoint:4}) the trainer stops at that point
 * of that step, prints {@code train-app: fault hold <where> <step>} on standard error and waits
 * there forever, so a test can kill it at exactly that moment. Unset (always, outside tests),
 * every call is one volatile read.
 */
final class Faults {
    static final String PROPERTY = "train-app.fault.hold";

    /** The places a run can be held. */
    enum Where {
        /** Inside a step: after the backward passes, before the optimizer. */
        STEP,
        /** Half-way through a validation. */
        VALIDATION,
        /** Inside a checkpoint write: the model written, the rest and the manifest not. */
        CHECKPOINT,
        /** After a checkpoint folder got its final name, before {@code latest} points at it. */
        PUBLISH;

        String key() { return name().toLowerCase(Locale.ROOT); }
    }

    private static volatile Set<String> holds;

    private Faults() {}

    private static Set<String> holds() {
        Set<String> h = holds;
        if (h == null) {
            h = new TreeSet<>();
            String p = System.getProperty(PROPERTY, "");
            for (String s : p.split(",")) {
                String t = s.strip();
                if (t.isEmpty()) continue;
                String[] kv = t.split(":");
                boolean ok = kv.length == 2 && kv[1].matches("\\d+");
                if (ok) {
                    try { Where.valueOf(kv[0].toUpperCase(Locale.ROOT)); } catch (IllegalArgumentException e) { ok = false; }
                }
                if (!ok) throw new IllegalArgumentException("-D" + PROPERTY + ": '" + t + "' is not where:step with where one of "
                        + java.util.Arrays.stream(Where.values()).map(Where::key).toList());
                h.add(kv[0].toLowerCase(Locale.ROOT) + ":" + Integer.parseInt(kv[1]));
            }
            holds = h;
        }
        return h;
    }

    /** Holds the run here forever when the drill asks for {@code where} at {@code step}. */
    static void hold(Where where, int step) {
        Set<String> h = holds();
        if (h.isEmpty() || !h.contains(where.key() + ":" + step)) return;
        System.out.flush();
        System.err.println("train-app: fault hold " + where.key() + " " + step);
        System.err.flush();
        while (true) {
            try {
                Thread.sleep(Long.MAX_VALUE);
            } catch (InterruptedException e) {
                // a drill's hold ends only with the process
            }
        }
    }
}
