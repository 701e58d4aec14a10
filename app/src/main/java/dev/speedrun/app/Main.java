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

    public static void main(String[] args) { System.exit(execute(args)); }

    /** Runs the CLI and returns the exit code (for tests). */
    public static int execute(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            boolean verbose = parsed.originalArgs().contains("--verbose");
            if (verbose) ex.printStackTrace(cmd.getErr());
            else cmd.getErr().println("error: " + ex.getMessage());
            return 1;
        });
        return cl.execute(args);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"train-app " + (v == null ? "dev" : v) + " (Java " + Runtime.version() + ")"};
        }
    }
}
