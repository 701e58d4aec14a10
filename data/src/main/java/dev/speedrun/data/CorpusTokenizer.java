package dev.speedrun.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Documents to token shards: each document becomes {@code [BOS] + GPT-2 BPE tokens}; documents are
 * encoded on a thread pool but written in input order, so the output is deterministic. Every
 * {@code 1/valFraction}-th document (starting with the first) goes to the validation shards.
 * Files: {@code <prefix>_train_%06d.bin} and {@code <prefix>_val_%06d.bin}.
 */
public final class CorpusTokenizer {
    /**
     * @param outDir      output folder (created)
     * @param prefix      file name prefix
     * @param valFraction fraction of documents for validation, in {@code [0, 1)}
     * @param shardTokens tokens per shard (the last shard of each split may be shorter)
     * @param threads     encoder threads
     * @param maxTokens   stop once this many tokens (train + val) are written; {@code <= 0}: no limit
     */
    public record Options(Path outDir, String prefix, double valFraction, int shardTokens, int threads, long maxTokens) {
        public Options {
            if (!(valFraction >= 0 && valFraction < 1)) throw new DataException("val fraction " + valFraction + " is not in [0, 1)");
            if (shardTokens < 1) throw new DataException("shard size " + shardTokens + " tokens must be positive");
            if (threads < 1) throw new DataException("threads " + threads + " must be positive");
            if (prefix.isEmpty() || !prefix.matches("[A-Za-z0-9._-]+")) throw new DataException("bad shard prefix '" + prefix + "'");
        }
    }

    /** What was written. */
    public record Summary(long documents, long skippedEmpty, long trainDocuments, long valDocuments,
                          long trainTokens, long valTokens, List<Path> trainShards, List<Path> valShards, long nanos) {
        public long tokens() { return trainTokens + valTokens; }

        public double tokensPerSecond() { return tokens() / Math.max(1e-9, nanos / 1e9); }
    }

    /** Called on the caller's thread after each chunk of documents is written (cumulative counts). */
    @FunctionalInterface
    public interface Progress {
        void update(long documents, long tokens);
    }

    private CorpusTokenizer() {}

    private static final int CHUNK_DOCS = 64;
    private static final int CHUNK_CHARS = 1 << 18;

    public static Summary tokenize(Iterator<String> documents, Options o, Progress progress) {
        long t0 = System.nanoTime();
        try {
            Files.createDirectories(o.outDir());
        } catch (IOException e) {
            throw new DataException("cannot create output folder " + o.outDir() + ": " + e, e);
        }
        Sink train = new Sink(o, "train");
        Sink val = new Sink(o, "val");
        ExecutorService pool = Executors.newFixedThreadPool(o.threads(), r -> {
            Thread t = new Thread(r, "tokenizer");
            t.setDaemon(true);
            return t;
        });
        ArrayDeque<Future<List<int[]>>> inflight = new ArrayDeque<>();
        long docs = 0, skipped = 0, trainDocs = 0, valDocs = 0;
        boolean done = false;
        try {
            while (!done) {
                // Fill the pipeline (bounded, so memory stays flat on huge inputs).
                while (inflight.size() < 4 * o.threads() && documents.hasNext()) {
                    List<String> chunk = new ArrayList<>(CHUNK_DOCS);
                    int chars = 0;
                    while (chunk.size() < CHUNK_DOCS && chars < CHUNK_CHARS && documents.hasNext()) {
                        String d = documents.next();
                        chunk.add(d);
                        chars += d.length();
                    }
                    inflight.add(pool.submit(() -> {
                        List<int[]> out = new ArrayList<>(chunk.size());
                        for (String d : chunk) out.add(d.isBlank() ? null : Gpt2Tokenizer.encodeDocument(d));
                        return out;
                    }));
                }
                if (inflight.isEmpty()) break;
                List<int[]> encoded = get(inflight.poll());
                for (int[] doc : encoded) {
                    if (doc == null) { skipped++; continue; }
                    long i = trainDocs + valDocs;
                    boolean isVal = Math.ceil((i + 1) * o.valFraction()) > Math.ceil(i * o.valFraction());
                    if (isVal) { val.add(doc); valDocs++; } else { train.add(doc); trainDocs++; }
                    docs++;
                    if (o.maxTokens() > 0 && train.tokens + val.tokens >= o.maxTokens()) { done = true; break; }
                }
                if (progress != null) progress.update(docs, train.tokens + val.tokens);
            }
            train.flush();
            val.flush();
        } finally {
            for (Future<?> f : inflight) f.cancel(true);
            pool.shutdownNow();
        }
        return new Summary(docs, skipped, trainDocs, valDocs, train.tokens, val.tokens,
                List.copyOf(train.files), List.copyOf(val.files), System.nanoTime() - t0);
    }

    private static List<int[]> get(Future<List<int[]>> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DataException("tokenizing interrupted", e);
        } catch (ExecutionException e) {
            throw new DataException("tokenizing failed: " + e.getCause(), e.getCause());
        }
    }

    /** Shard name for split {@code split} ("train"/"val") number {@code index}. */
    public static String shardName(String prefix, String split, int index) {
        return String.format("%s_%s_%06d.bin", prefix, split, index);
    }

    /** Accumulates one split's tokens and writes a shard whenever the buffer is full. */
    private static final class Sink {
        final Options o;
        final String split;
        final char[] buf;
        int fill;
        long tokens;
        final List<Path> files = new ArrayList<>();

        Sink(Options o, String split) {
            this.o = o;
            this.split = split;
            this.buf = new char[o.shardTokens()];
        }

        void add(int[] doc) {
            for (int off = 0; off < doc.length; ) {
                int n = Math.min(doc.length - off, buf.length - fill);
                for (int k = 0; k < n; k++) buf[fill + k] = (char) doc[off + k];
                fill += n;
                off += n;
                if (fill == buf.length) flush();
            }
            tokens += doc.length;
        }

        void flush() {
            if (fill == 0) return;
            Path f = o.outDir().resolve(shardName(o.prefix(), split, files.size()));
            ShardWriter.write(f, buf, 0, fill);
            files.add(f);
            fill = 0;
        }
    }
}
