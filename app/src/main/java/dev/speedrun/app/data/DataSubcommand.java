package dev.speedrun.app.data;

import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine;

/**
 * What the {@code data} subcommands share: picocli's spec of the command, the output streams it
 * writes to (tests capture them), and a bad option value reported as picocli reports its own
 * (usage hint, exit code 2).
 */
abstract class DataSubcommand implements Callable<Integer> {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    PrintWriter out() { return spec.commandLine().getOut(); }

    PrintWriter err() { return spec.commandLine().getErr(); }

    CommandLine.ParameterException bad(String message) { return new CommandLine.ParameterException(spec.commandLine(), message); }
}
