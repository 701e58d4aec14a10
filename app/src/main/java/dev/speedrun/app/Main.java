package dev.speedrun.app;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of {@code ./train-app}. */
@Command(name = "train-app", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "GPT-2 speedrun trainer (modded-nanogpt record 178) in Java.",
        subcommands = {TrainCommand.class,
                LossCommand.class,
                BenchCommand.class,
                dev.speedrun.app.data.DataCommand.class,
                PluginsCommand.class,
                dev.speedrun.app.research.SweepCommand.class,
                dev.speedrun.app.research.CompareCommand.class,
                dev.speedrun.app.research.SampleTextCommand.class})
public final class Main implements Runnable {
    @Override public void run() { CommandLine.usage(this, System.out); }

    /** Exit status of a failed command (a bad flag or value is picocli's 2). */
    public static final int EXIT_ERROR = 1;
    /** Exit status of a training run stopped by a NaN or Inf in its loss or a gradient. */
    public static final int EXIT_NON_FINITE = 3;

    public static void main(String[] args) { System.exit(execute(args)); }

    /** Runs the CLI and returns the exit code (for tests). */
    public static int execute(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            boolean verbose = parsed.originalArgs().contains("--verbose");
            if (verbose) ex.printStackTrace(cmd.getErr());
            else cmd.getErr().println(message(ex));
            return exitCode(ex);
        });
        // a bad flag or value: one line naming it, not the usage page (--help shows that)
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine c = ex.getCommandLine();
            String name = c.getCommandName();
            for (CommandLine p = c.getParent(); p != null; p = p.getParent()) name = p.getCommandName() + " " + name;
            c.getErr().println("error: " + ex.getMessage().replace('\n', ' ').strip() + " (" + name + " --help lists the options)");
            return c.getCommandSpec().exitCodeOnInvalidInput();
        });
        return cl.execute(args);
    }

    /** The one line a failure prints: I/O errors in words (the JDK's own message is often just a path). */
    static String message(Throwable ex) {
        if (ex instanceof Interrupts.StoppedException) return "train-app: " + ex.getMessage();
        if (ex instanceof java.io.IOException io) return "error: " + dev.speedrun.model.Checkpoints.describe(io);
        if (ex instanceof java.io.UncheckedIOException u && u.getMessage() != null && u.getCause() != null
                && u.getMessage().equals(u.getCause().toString()))
            return "error: " + dev.speedrun.model.Checkpoints.describe(u.getCause());
        String m = ex.getMessage() == null ? ex.toString() : ex.getMessage();
        return "error: " + m.replace('\n', ' ');
    }

    static int exitCode(Throwable ex) {
        if (ex instanceof FiniteGuard.NonFiniteException) return EXIT_NON_FINITE;
        if (ex instanceof Interrupts.StoppedException) return Interrupts.EXIT_CODE;
        return EXIT_ERROR;
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"train-app " + (v == null ? "dev" : v) + " (Java " + Runtime.version() + ")"};
        }
    }
}
