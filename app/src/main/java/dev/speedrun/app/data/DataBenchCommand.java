package dev.speedrun.app.data;

import dev.speedrun.data.Batch;
import dev.speedrun.data.DataExhaustedException;
import dev.speedrun.data.DataPaths;
import dev.speedrun.data.SampleCorpus;
import dev.speedrun.data.TrainBatcher;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code data bench}: throughput of the BOS-aligned training batcher over real shards. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measures the BOS-aligned training batcher (tokens/s, prefetch wait) over the *_train_*.bin shards of a folder.")
public final class DataBenchCommand extends DataSubcommand {
    @Option(names = "--dir", paramLabel = "DIR", description = "Shard folder (default: data/sample, generated if absent).") Path dir;
    @Option(names = "--batch-tokens", defaultValue = "131072", description = "Global tokens per step (default ${DEFAULT-VALUE}, the record's first stage).") long batchTokens;
    @Option(names = "--world-size", defaultValue = "8", description = "Ranks; rank 0 is measured (default ${DEFAULT-VALUE}).") int worldSize;
    @Option(names = "--grad-accum", defaultValue = "1", description = "Micro-steps per step (default ${DEFAULT-VALUE}).") int gradAccum;
    @Option(names = "--max-seq-len", defaultValue = "2048", description = "Document truncation (default ${DEFAULT-VALUE}).") int maxSeqLen;
    @Option(names = "--steps", defaultValue = "0", description = "Steps to run; 0 = until the data runs out (default).") int steps;

    @Override public Integer call() {
        if (batchTokens < 1 || worldSize < 1 || gradAccum < 1 || maxSeqLen < 1 || steps < 0) {
            throw bad("--batch-tokens, --world-size, --grad-accum and --max-seq-len must be positive");
        }
        Path d = dir != null ? dir : SampleCorpus.ensureDefault();
        List<Path> files = DataPaths.trainShards(d);
        if (files.isEmpty()) throw bad("no *_train_*.bin shards in " + d);
        int n = TrainBatcher.tokensPerRank(batchTokens, worldSize, gradAccum);
        var w = out();
        long batches = 0, tokens = 0;
        long tStart = System.nanoTime();
        long waitNs, t0;
        double startup;
        try (TrainBatcher b = new TrainBatcher(files, worldSize, 0)) {
            // The constructor maps and indexes the first shard synchronously: reported apart.
            t0 = System.nanoTime();
            startup = (t0 - tStart) / 1e9;
            long wait0 = b.waitNanos();
            try {
                while (steps == 0 || batches < (long) steps * gradAccum) {
                    Batch batch = b.next(n, maxSeqLen);
                    tokens += batch.size();
                    batches++;
                }
            } catch (DataExhaustedException e) {
                if (batches == 0) throw e;
            }
            waitNs = b.waitNanos() - wait0;
        }
        double s = (System.nanoTime() - t0) / 1e9;
        w.printf("start-up (first shard mapped and indexed): %.3f s%n", startup);
        w.printf("%d micro-batches of %d tokens (rank 0 of %d) from %d shards in %.3f s%n", batches, n, worldSize, files.size(), s);
        w.printf("batcher: %.0f tokens/s per rank (%.0f tokens/s for all %d ranks' walk); prefetch wait %.3f s%n",
                tokens / s, tokens * (double) worldSize / s, worldSize, waitNs / 1e9);
        w.flush();
        return 0;
    }
}
