package dev.speedrun.app.data;

import dev.speedrun.data.DataPaths;
import dev.speedrun.data.FineWebDownloader;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code data download}: the record's FineWeb10B GPT-2 shards from Hugging Face. */
@Command(name = "download", mixinStandardHelpOptions = true,
        description = {"Downloads the record's FineWeb10B GPT-2 shards (val + N train) from Hugging Face.",
                "Files: fineweb_val_000000.bin, fineweb_train_000001.bin .. N of the dataset kjj0/fineweb10B-gpt2 (100M tokens, ~200 MB each). Complete files are skipped, partial ones resumed,",
                "failures retried with backoff; every file's header and size are verified."})
public final class DownloadCommand extends DataSubcommand {
    @Option(names = "--shards", required = true, paramLabel = "N",
            description = "Training shards to fetch (1.." + FineWebDownloader.MAX_TRAIN_SHARDS + "; the record trains on fewer than 10).") int shards;
    @Option(names = "--dir", paramLabel = "DIR", description = "Target folder (default: data/fineweb10B under the repository root).") Path dir;
    @Option(names = "--base-url", paramLabel = "URL",
            description = "Where the files are (default: $" + FineWebDownloader.BASE_URL_ENV + " or " + FineWebDownloader.DEFAULT_BASE_URL + ").") String baseUrl;
    @Option(names = "--retries", defaultValue = "5", description = "Retries per file (default ${DEFAULT-VALUE}).") int retries;
    @Option(names = "--backoff-ms", defaultValue = "2000", description = "First retry delay in ms, doubling (default ${DEFAULT-VALUE}).") long backoffMs;

    @Override public Integer call() {
        if (shards < 0 || shards > FineWebDownloader.MAX_TRAIN_SHARDS) {
            throw bad("--shards " + shards + " must be in 0.." + FineWebDownloader.MAX_TRAIN_SHARDS);
        }
        if (retries < 0 || backoffMs < 0) throw bad("--retries and --backoff-ms must not be negative");
        Path target = dir != null ? dir : DataPaths.defaultFineWebDir();
        FineWebDownloader.Options defaults = FineWebDownloader.Options.defaults(target);
        URI base;
        try {
            base = baseUrl == null ? defaults.baseUrl() : URI.create(baseUrl);
        } catch (IllegalArgumentException e) {
            throw bad("--base-url '" + baseUrl + "' is not a URL");
        }
        var o = new FineWebDownloader.Options(base, target, retries, Duration.ofMillis(backoffMs), defaults.stallTimeout());
        var err = err();
        var out = out();
        out.println("downloading " + (shards + 1) + " files from " + o.baseUrl() + " into " + target.toAbsolutePath());
        out.flush();
        long t0 = System.nanoTime();
        var result = new FineWebDownloader(o).download(shards, new FineWebDownloader.Listener() {
            ProgressBar bar;

            @Override public void skipped(String file, long bytes) { out.println(file + ": already complete, skipped"); out.flush(); }

            @Override public void started(String file, long have, long total) {
                bar = new ProgressBar(err, file);
                if (have > 0) { err.println(file + ": resuming at " + ProgressBar.count(have) + "B"); }
            }

            @Override public void progress(String file, long have, long total) {
                bar.update(total > 0 ? (double) have / total : -1, ProgressBar.count(have) + "B"
                        + (total > 0 ? " of " + ProgressBar.count(total) + "B" : ""), false);
            }

            @Override public void retrying(String file, int attempt, String reason, Duration wait) {
                if (bar != null) bar.finish();
                err.println(file + ": " + reason + (attempt > 0 ? "; retry " + (attempt - 1) + " in " + wait.toMillis() + " ms" : ""));
                err.flush();
            }

            @Override public void finished(String file, long bytes) {
                bar.update(1, ProgressBar.count(bytes) + "B, verified", true);
                bar.finish();
            }
        });
        double s = (System.nanoTime() - t0) / 1e9;
        out.printf("done: %d downloaded, %d already present, %sB transferred in %.1f s%n", result.downloaded(), result.skipped(),
                ProgressBar.count(result.bytes()), s);
        out.flush();
        return 0;
    }
}
