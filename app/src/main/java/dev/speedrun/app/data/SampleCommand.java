package dev.speedrun.app.data;

import dev.speedrun.data.SampleCorpus;
import java.nio.file.Path;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code data sample}: the built-in generated corpus, the default training data without FineWeb. */
@Command(name = "sample", mixinStandardHelpOptions = true,
        description = {"Generates the built-in English-like sample corpus as token shards (the default training data).",
                "Deterministic for a seed; writes sample_train_*.bin and sample_val_*.bin (~10% of documents). The trainer uses it when no FineWeb data is given."})
public final class SampleCommand extends DataSubcommand {
    @Option(names = "--tokens", defaultValue = "" + SampleCorpus.DEFAULT_TOKENS, paramLabel = "N",
            description = "Total tokens, train + val (default ${DEFAULT-VALUE}).") long tokens;
    @Option(names = "--out", paramLabel = "DIR", description = "Output folder (default: data/sample under the repository root).") Path out;
    @Option(names = "--seed", defaultValue = "" + SampleCorpus.DEFAULT_SEED, description = "Generator seed (default ${DEFAULT-VALUE}).") long seed;

    @Override public Integer call() {
        if (tokens < 1000) throw bad("--tokens " + tokens + " is too small (at least 1000)");
        Path dir = out != null ? out : SampleCorpus.defaultDir();
        var w = out();
        if (SampleCorpus.isPresent(dir, tokens, seed)) {
            w.println("sample corpus (" + tokens + " tokens, seed " + seed + ") already in " + dir.toAbsolutePath() + "; nothing to do");
            w.flush();
            return 0;
        }
        ProgressBar bar = new ProgressBar(err(), "sample");
        var s = SampleCorpus.generate(dir, tokens, seed, (d, t) -> bar.update((double) t / tokens,
                ProgressBar.count(d) + " docs, " + ProgressBar.count(t) + " tokens, " + ProgressBar.count(t / bar.seconds()) + " tok/s", false));
        bar.update(1, ProgressBar.count(s.documents()) + " docs, " + ProgressBar.count(s.tokens()) + " tokens", true);
        bar.finish();
        w.printf("documents: %d (%d train, %d val)%n", s.documents(), s.trainDocuments(), s.valDocuments());
        w.printf("tokens:    %d (%d train, %d val)%n", s.tokens(), s.trainTokens(), s.valTokens());
        w.printf("shards:    %d train, %d val in %s%n", s.trainShards().size(), s.valShards().size(), dir.toAbsolutePath());
        w.printf("time:      %.2f s, %.0f tokens/s (generate + tokenize)%n", s.nanos() / 1e9, s.tokensPerSecond());
        w.flush();
        return 0;
    }
}
