package dev.speedrun.app;

import java.io.PrintStream;
import java.util.concurrent.atomic.AtomicInteger;
import sun.misc.Signal;
import sun.misc.SignalHandler;

/**
 * Ctrl-C (SIGINT) during training: the first asks the run to stop at the next step boundary with
 * a checkpoint ({@link #requested}); a second exits at once (status {@value #EXIT_CODE}, as a
 * shell reports a process ended by SIGINT), without a checkpoint. The JVM's default for SIGINT
 * (run the shutdown hooks and exit) would lose every step since the last checkpoint.
 */
final class Interrupts implements AutoCloseable {
    static final int EXIT_CODE = 130;

    /** The run stopped on request after writing this checkpoint; {@code --resume} continues it. */
    static final class StoppedException extends RuntimeException {
        StoppedException(String message) { super(message); }
    }

    private static final AtomicInteger COUNT = new AtomicInteger();
    private final Signal signal;
    private final SignalHandler previous;

    private Interrupts(Signal signal, SignalHandler previous) {
        this.signal = signal;
        this.previous = previous;
    }

    /** Handles SIGINT until {@link #close}; {@code console} gets the notice of the first. */
    static Interrupts install(PrintStream console) {
        COUNT.set(0);
        Signal sig = new Signal("INT");
        SignalHandler prev;
        try {
            prev = Signal.handle(sig, s -> {
                if (COUNT.incrementAndGet() == 1) {
                    console.println("train-app: interrupted: stopping at the next step boundary with a checkpoint "
                            + "(interrupt again to exit at once, without one)");
                    console.flush();
                } else {
                    System.err.println("train-app: interrupted twice: exiting now");
                    System.err.flush();
                    Runtime.getRuntime().halt(EXIT_CODE);
                }
            });
        } catch (IllegalArgumentException e) {
            // the signal is not available here (e.g. the JVM runs with -Xrs): Ctrl-C keeps its default
            return new Interrupts(null, null);
        }
        return new Interrupts(sig, prev);
    }

    /** Whether a stop was asked for. */
    static boolean requested() { return COUNT.get() > 0; }

    @Override public void close() {
        if (signal != null) Signal.handle(signal, previous);
        COUNT.set(0);
    }
}
