package dev.speedrun.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Downloads the record's FineWeb10B GPT-2 shards ({@code fineweb_val_000000.bin} and
 * {@code fineweb_train_000001.bin ...}) from the Hugging Face dataset {@code kjj0/fineweb10B-gpt2}.
 * A file already present and valid is skipped; a partial download ({@code NAME.part}) is resumed
 * with an HTTP Range request; failures are retried with exponential backoff; each finished file's
 * header and size are verified before it is renamed to its final name.
 */
public final class FineWebDownloader {
    public static final String DEFAULT_BASE_URL = "https://huggingface.co/datasets/kjj0/fineweb10B-gpt2/resolve/main/";
    /** Environment variable that overrides the base URL (mirrors, tests). */
    public static final String BASE_URL_ENV = "FINEWEB_BASE_URL";
    /** Training shards published (fineweb_train_000001 .. 000103). */
    public static final int MAX_TRAIN_SHARDS = 103;

    /**
     * @param baseUrl        folder URL the file names are resolved against
     * @param retries        further attempts per file after the first
     * @param initialBackoff wait before the first retry; doubles each time (capped at 60 s)
     * @param stallTimeout   a connection that delivers no byte for this long is dropped and retried
     */
    public record Options(URI baseUrl, Path dir, int retries, Duration initialBackoff, Duration stallTimeout) {
        public Options {
            String u = baseUrl.toString();
            if (!u.endsWith("/")) baseUrl = URI.create(u + "/");
            if (!"http".equals(baseUrl.getScheme()) && !"https".equals(baseUrl.getScheme())) {
                throw new DataException("base URL " + baseUrl + " is not http(s)");
            }
            if (retries < 0) throw new DataException("retries " + retries + " must be >= 0");
        }

        public static Options defaults(Path dir) {
            String env = System.getenv(BASE_URL_ENV);
            return new Options(URI.create(env == null || env.isBlank() ? DEFAULT_BASE_URL : env), dir, 5,
                    Duration.ofSeconds(2), Duration.ofSeconds(60));
        }
    }

    /** Progress callbacks, on the downloading thread. */
    public interface Listener {
        default void skipped(String file, long bytes) {}
        default void started(String file, long have, long total) {}
        default void progress(String file, long have, long total) {}
        default void retrying(String file, int attempt, String reason, Duration wait) {}
        default void finished(String file, long bytes) {}
    }

    /** Outcome of {@link #download}. */
    public record Result(List<Path> files, int downloaded, int skipped, long bytes) {}

    private final Options o;
    private final HttpClient client;

    public FineWebDownloader(Options o) {
        this.o = o;
        this.client = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL)
                .connectTimeout(Duration.ofSeconds(30)).build();
    }

    /** The validation shard followed by training shards 1..{@code trainShards}. */
    public static List<String> fileNames(int trainShards) {
        if (trainShards < 0 || trainShards > MAX_TRAIN_SHARDS) {
            throw new DataException("--shards " + trainShards + ": the dataset has 1.." + MAX_TRAIN_SHARDS + " training shards");
        }
        List<String> names = new ArrayList<>();
        names.add("fineweb_val_000000.bin");
        for (int i = 1; i <= trainShards; i++) names.add(String.format("fineweb_train_%06d.bin", i));
        return names;
    }

    public Result download(int trainShards, Listener l) {
        try {
            Files.createDirectories(o.dir());
        } catch (IOException e) {
            throw new DataException("cannot create " + o.dir() + ": " + e, e);
        }
        List<Path> out = new ArrayList<>();
        int got = 0, skipped = 0;
        long bytes = 0;
        for (String name : fileNames(trainShards)) {
            Path f = o.dir().resolve(name);
            if (Files.isRegularFile(f)) {
                try {
                    Shard.checkHeader(f);
                    skipped++;
                    l.skipped(name, size(f));
                    out.add(f);
                    continue;
                } catch (ShardFormatException bad) {
                    // A broken file under the final name (not ours: we rename only verified files): fetch it again.
                    l.retrying(name, 0, "existing file is invalid (" + bad.getMessage() + "); downloading again", Duration.ZERO);
                    delete(f);
                }
            }
            bytes += fetch(name, f, l);
            got++;
            out.add(f);
        }
        return new Result(out, got, skipped, bytes);
    }

    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");

    /** Downloads one file with resume and retries; returns the bytes transferred. */
    private long fetch(String name, Path target, Listener l) {
        URI url = o.baseUrl().resolve(name);
        Path part = target.resolveSibling(name + ".part");
        long transferred = 0;
        String lastReason = "";
        Duration wait = o.initialBackoff();
        for (int attempt = 1; attempt <= o.retries() + 1; attempt++) {
            if (attempt > 1) {
                l.retrying(name, attempt, lastReason, wait);
                sleep(wait);
                wait = wait.multipliedBy(2).compareTo(Duration.ofSeconds(60)) > 0 ? Duration.ofSeconds(60) : wait.multipliedBy(2);
            }
            try {
                long have = Files.isRegularFile(part) ? size(part) : 0;
                HttpRequest.Builder rb = HttpRequest.newBuilder(url).GET().timeout(o.stallTimeout());
                if (have > 0) rb.header("Range", "bytes=" + have + "-");
                HttpResponse<InputStream> resp = client.send(rb.build(), HttpResponse.BodyHandlers.ofInputStream());
                int status = resp.statusCode();
                long total;
                boolean append;
                if (status == 416 && have > 0) {
                    resp.body().close();
                    total = have; // nothing left to fetch; verify what we have
                    append = true;
                } else if (status == 206) {
                    Matcher m = CONTENT_RANGE.matcher(resp.headers().firstValue("Content-Range").orElse(""));
                    if (!m.matches() || Long.parseLong(m.group(1)) != have) {
                        resp.body().close();
                        delete(part);
                        lastReason = "server answered the range request with an unexpected Content-Range; restarting";
                        continue;
                    }
                    total = "*".equals(m.group(3)) ? -1 : Long.parseLong(m.group(3));
                    append = true;
                } else if (status == 200) {
                    total = resp.headers().firstValueAsLong("Content-Length").orElse(-1);
                    append = false; // full body (server ignored or did not get a range)
                    have = 0;
                } else {
                    resp.body().close();
                    String why = "HTTP " + status + " for " + url;
                    if (status == 408 || status == 429 || status >= 500) { lastReason = why; continue; }
                    throw new DataException("cannot download " + name + ": " + why
                            + (status == 404 ? " (no such file; check --shards and the base URL)" : ""));
                }
                l.started(name, have, total);
                if (status != 416) transferred += copy(resp.body(), part, append, have, total, name, l);
                long size = size(part);
                if (total >= 0 && size != total) {
                    lastReason = "connection ended at " + size + " of " + total + " bytes";
                    continue;
                }
                try {
                    Shard.checkHeader(part);
                } catch (ShardFormatException bad) {
                    delete(part);
                    lastReason = "downloaded file is not a valid shard: " + bad.getMessage();
                    continue;
                }
                Files.move(part, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                l.finished(name, size);
                return transferred;
            } catch (IOException e) {
                lastReason = e instanceof java.net.ConnectException ? "cannot connect to " + url.getHost() + " (refused or unreachable)"
                        : e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DataException("download of " + name + " interrupted", e);
            }
        }
        throw new DataException("cannot download " + name + " from " + url + " after " + (o.retries() + 1)
                + " attempts; last problem: " + lastReason + (Files.exists(part) ? " (partial data kept in " + part + "; rerun to resume)" : ""));
    }

    /** Streams the body into {@code part}; a watchdog closes the stream if it stalls. */
    private long copy(InputStream body, Path part, boolean append, long have, long total, String name, Listener l) throws IOException {
        ScheduledExecutorService dog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "download-watchdog");
            t.setDaemon(true);
            return t;
        });
        long[] last = {System.nanoTime()};
        long stallNs = o.stallTimeout().toNanos();
        dog.scheduleAtFixedRate(() -> {
            if (System.nanoTime() - last[0] > stallNs) {
                try { body.close(); } catch (IOException ignored) { /* closing is the point */ }
            }
        }, 1, 1, TimeUnit.SECONDS);
        long n = 0;
        try (InputStream in = body;
             OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buf = new byte[1 << 16];
            long lastReport = 0;
            for (int r; (r = in.read(buf)) >= 0; ) {
                out.write(buf, 0, r);
                n += r;
                last[0] = System.nanoTime();
                if (last[0] - lastReport > 200_000_000L) {
                    l.progress(name, have + n, total);
                    lastReport = last[0];
                }
            }
            l.progress(name, have + n, total);
        } finally {
            dog.shutdownNow();
        }
        return n;
    }

    private static long size(Path f) {
        try {
            return Files.size(f);
        } catch (IOException e) {
            throw new DataException("cannot read size of " + f + ": " + e, e);
        }
    }

    private static void delete(Path f) {
        try {
            Files.deleteIfExists(f);
        } catch (IOException e) {
            throw new DataException("cannot delete " + f + ": " + e, e);
        }
    }

    private static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DataException("download interrupted", e);
        }
    }
}
