package dev.speedrun.app;

import picocli.CommandLine.Command;

/** {@code bench}: micro- and step benchmarks; subcommands register here. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks (matmul, step, ab).",
        subcommands = {BenchMatmulCommand.class, BenchStepCommand.class,
                dev.speedrun.app.research.BenchAbCommand.class})
public final class BenchCommand implements Runnable {
    @Override public void run() { picocli.CommandLine.usage(this, System.out); }
}
