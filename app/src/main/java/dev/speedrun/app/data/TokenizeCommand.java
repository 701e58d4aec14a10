package dev.speedrun.app.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.speedrun.data.CorpusTokenizer;
import dev.speedrun.data.DataException;
import dev.speedrun.data.Shard;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code data tokenize}: text or JSON-lines documents to GPT-2 token shards. */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {"Tokenizes documents with the GPT-2 BPE (r50k_base) into token shards, BOS (50256) before every document.",
                "Files ending in .jsonl/.json hold one JSON object per line (the document is its --text-field);",
                "other files are UTF-8 text, one document per file (or per paragraph/line, see --text-docs)."})
public final class TokenizeCommand extends DataSubcommand {
    @Option(names = "--input", arity = "1..*", required = true, paramLabel = "FILE", description = "Input files.") List<Path> inputs;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder for the shards.") Path out;
    @Option(names = "--val-fraction", defaultValue = "0.01", paramLabel = "F",
            description = "Fraction of documents for validation, in [0, 1) (default ${DEFAULT-VALUE}).") double valFraction;
    @Option(names = "--shard-tokens", defaultValue = "100000000", paramLabel = "N",
            description = "Tokens per shard (default ${DEFAULT-VALUE}, as FineWeb).") int shardTokens;
    @Option(names = "--prefix", defaultValue = "corpus", description = "Shard name prefix: PREFIX_train_000000.bin (default ${DEFAULT-VALUE}).") String prefix;
    @Option(names = "--text-field", defaultValue = "text", description = "JSON field holding the document (default ${DEFAULT-VALUE}).") String textField;
    @Option(names = "--text-docs", defaultValue = "file", paramLabel = "MODE",
            description = "Documents in text files: file, paragraphs (split at blank lines) or lines (default ${DEFAULT-VALUE}).") String textDocs;
    @Option(names = "--threads", paramLabel = "N", description = "Encoder threads (default: all cores).") Integer threads;
    @Option(names = "--force", description = "Replace existing PREFIX_* shards in DIR.") boolean force;

    @Override public Integer call() throws IOException {
        if (!List.of("file", "paragraphs", "lines").contains(textDocs)) {
            throw bad("--text-docs must be file, paragraphs or lines, not '" + textDocs + "'");
        }
        if (!(valFraction >= 0 && valFraction < 1)) throw bad("--val-fraction " + valFraction + " is not in [0, 1)");
        if (shardTokens < 1) throw bad("--shard-tokens " + shardTokens + " must be positive");
        int nThreads = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
        if (nThreads < 1) throw bad("--threads " + nThreads + " must be positive");
        long totalBytes = 0;
        for (Path p : inputs) {
            if (!Files.isRegularFile(p)) throw bad("input file " + p + " does not exist or is not a file");
            totalBytes += Files.size(p);
        }
        if (Files.isDirectory(out)) {
            List<Path> old = Shard.list(out, prefix + "_{train,val}_*.bin");
            if (!old.isEmpty()) {
                if (!force) throw new DataException(out + " already holds " + old.size() + " " + prefix + "_* shards; use --force to replace them or another --out/--prefix");
                for (Path p : old) Files.delete(p);
            }
        }
        var o = new CorpusTokenizer.Options(out, prefix, valFraction, shardTokens, nThreads, 0);
        Documents docs = new Documents(inputs, textField, textDocs);
        ProgressBar bar = new ProgressBar(err(), "tokenize");
        long total = totalBytes;
        CorpusTokenizer.Summary s = CorpusTokenizer.tokenize(docs, o, (d, t) -> bar.update(total == 0 ? 1 : (double) docs.bytesRead / total,
                ProgressBar.count(d) + " docs, " + ProgressBar.count(t) + " tokens, " + ProgressBar.count(t / bar.seconds()) + " tok/s", false));
        bar.update(1, ProgressBar.count(s.documents()) + " docs, " + ProgressBar.count(s.tokens()) + " tokens", true);
        bar.finish();
        var w = out();
        w.printf("documents: %d (%d train, %d val, %d empty skipped)%n", s.documents(), s.trainDocuments(), s.valDocuments(), s.skippedEmpty());
        w.printf("tokens:    %d (%d train, %d val)%n", s.tokens(), s.trainTokens(), s.valTokens());
        w.printf("shards:    %d train, %d val in %s%n", s.trainShards().size(), s.valShards().size(), out.toAbsolutePath());
        w.printf("time:      %.2f s, %.0f tokens/s with %d threads%n", s.nanos() / 1e9, s.tokensPerSecond(), nThreads);
        w.flush();
        if (s.documents() == 0) throw new DataException("no documents found in the input files");
        return 0;
    }

    /** Streams documents from the input files, one file at a time. */
    static final class Documents implements Iterator<String> {
        private final ArrayDeque<Path> files;
        private final String field;
        private final String mode;
        private final ObjectMapper json = new ObjectMapper();
        private final ArrayDeque<String> ready = new ArrayDeque<>();
        private BufferedReader reader;
        private Path current;
        private long lineNo;
        volatile long bytesRead;

        Documents(List<Path> files, String field, String mode) {
            this.files = new ArrayDeque<>(files);
            this.field = field;
            this.mode = mode;
        }

        private static boolean isJson(Path p) {
            String n = p.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
            return n.endsWith(".jsonl") || n.endsWith(".json") || n.endsWith(".ndjson");
        }

        @Override public boolean hasNext() {
            try {
                while (ready.isEmpty()) {
                    if (reader == null) {
                        if (files.isEmpty()) return false;
                        current = files.poll();
                        lineNo = 0;
                        if (!isJson(current) && mode.equals("file")) {
                            String text = Files.readString(current, StandardCharsets.UTF_8);
                            bytesRead += Files.size(current);
                            ready.add(text);
                            continue;
                        }
                        reader = Files.newBufferedReader(current, StandardCharsets.UTF_8);
                    }
                    String line = reader.readLine();
                    if (line == null) {
                        reader.close();
                        reader = null;
                        continue;
                    }
                    lineNo++;
                    bytesRead += line.length() + 1;
                    if (isJson(current)) {
                        if (line.isBlank()) continue;
                        JsonNode node;
                        try {
                            node = json.readTree(line);
                        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                            throw new DataException(current + " line " + lineNo + ": not valid JSON (" + e.getOriginalMessage() + ")");
                        }
                        JsonNode text = node == null ? null : node.get(field);
                        if (text == null || !text.isTextual()) {
                            throw new DataException(current + " line " + lineNo + ": no string field \"" + field + "\" (see --text-field)");
                        }
                        ready.add(text.asText());
                    } else if (mode.equals("lines")) {
                        ready.add(line);
                    } else { // paragraphs: gather until a blank line
                        StringBuilder sb = new StringBuilder(line);
                        String l;
                        while ((l = reader.readLine()) != null && !l.isBlank()) {
                            lineNo++;
                            bytesRead += l.length() + 1;
                            sb.append('\n').append(l);
                        }
                        if (l != null) { lineNo++; bytesRead += l.length() + 1; }
                        ready.add(sb.toString());
                    }
                }
                return true;
            } catch (java.nio.charset.MalformedInputException e) {
                throw new DataException(current + ": not UTF-8 text", e);
            } catch (IOException e) {
                throw new DataException("cannot read " + current + ": " + e.getMessage(), e);
            }
        }

        @Override public String next() {
            if (!hasNext()) throw new NoSuchElementException();
            return ready.poll();
        }
    }
}
