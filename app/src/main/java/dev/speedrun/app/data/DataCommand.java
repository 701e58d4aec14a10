package dev.speedrun.app.data;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code data}: get training data in (tokenize, download, sample) and measure the batcher. */
@Command(name = "data", mixinStandardHelpOptions = true,
        description = "Token shards: build them from text, download FineWeb, generate the sample corpus, benchmark batching.",
        subcommands = {TokenizeCommand.class, DownloadCommand.class, SampleCommand.class, DataBenchCommand.class})
public final class DataCommand implements Runnable {
    @CommandLine.Spec CommandLine.Model.CommandSpec spec;

    @Override public void run() { spec.commandLine().usage(spec.commandLine().getOut()); }
}
