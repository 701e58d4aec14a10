package dev.speedrun.app;

import picocli.CommandLine.Command;

/** {@code bench}: micro- and step benchmarks; subcommands register here. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks (matmul, step).",
        subcommands = {BenchMatmulCommand.class})
public final class BenchCommand implements Runnable {
    @Override public void run() { picocli.CommandLine.usage(this, System.out); }
}
