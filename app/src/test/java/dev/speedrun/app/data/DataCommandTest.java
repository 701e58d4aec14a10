package dev.speedrun.app.data;

import static org.junit.jupiter.api.Assertions.*;

import com.sun.net.httpserver.HttpServer;
import dev.speedrun.app.Main;
import dev.speedrun.app.CliRun;
import dev.speedrun.data.DataPaths;
import dev.speedrun.data.Gpt2Tokenizer;
import dev.speedrun.data.Shard;
import dev.speedrun.data.ShardWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code data} commands as a user runs them, through {@link Main#execute}. */
class DataCommandTest {
    @TempDir Path tmp;

    static CliRun run(String... args) { return CliRun.of(args); }

    static void assertCleanError(CliRun r, String... words) {
        assertNotEquals(0, r.code(), r.toString());
        for (String w : words) assertTrue(r.err().contains(w), "error mentions '" + w + "': " + r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
    }

    @Test void tokenizeTextAndJsonLines() throws Exception {
        Path txt = tmp.resolve("a.txt");
        Files.writeString(txt, "A plain text document.\nSecond line of it.");
        Path jsonl = tmp.resolve("b.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 20; i++) sb.append("{\"id\": ").append(i).append(", \"text\": \"Doc ").append(i).append(" \\u00e9t\\u00e9\\n\"}\n");
        Files.writeString(jsonl, sb.toString());
        Path out = tmp.resolve("shards");
        CliRun r = run("data", "tokenize", "--input", txt.toString(), jsonl.toString(), "--out", out.toString(),
                "--val-fraction", "0.1", "--shard-tokens", "50");
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("documents: 21") && r.out().contains("tokens/s"), r.out());
        List<Path> train = DataPaths.trainShards(out);
        assertTrue(train.size() > 1);
        assertFalse(DataPaths.valShards(out).isEmpty());
        // Document 0 (the text file) went to val (every 10th, starting with the first), so train starts with JSON doc 0.
        try (Shard s = Shard.open(train.get(0))) {
            int[] t = new int[s.size()];
            s.copy(0, t, 0, t.length);
            assertEquals(Shard.BOS, t[0]);
            int next = 1;
            while (t[next] != Shard.BOS) next++;
            assertEquals("Doc 0 été\n", Gpt2Tokenizer.decode(java.util.Arrays.copyOfRange(t, 1, next)));
        }
        // Refuses to mix with existing shards unless --force.
        CliRun again = run("data", "tokenize", "--input", txt.toString(), "--out", out.toString());
        assertCleanError(again, "--force");
        assertEquals(0, run("data", "tokenize", "--input", txt.toString(), "--out", out.toString(), "--force").code());
    }

    @Test void tokenizeReportsBadInputClearly() throws Exception {
        assertCleanError(run("data", "tokenize", "--input", tmp.resolve("missing.txt").toString(), "--out", tmp.toString()),
                "missing.txt", "does not exist");
        Path txt = tmp.resolve("a.txt");
        Files.writeString(txt, "x");
        assertCleanError(run("data", "tokenize", "--input", txt.toString(), "--out", tmp.toString(), "--val-fraction", "1.5"), "--val-fraction");
        assertCleanError(run("data", "tokenize", "--input", txt.toString(), "--out", tmp.toString(), "--shard-tokens", "lots"), "--shard-tokens");
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"text\": \"ok\"}\n{\"body\": \"no text field\"}\n");
        assertCleanError(run("data", "tokenize", "--input", bad.toString(), "--out", tmp.resolve("o").toString()), "bad.jsonl line 2", "text");
    }

    @Test void sampleGeneratesOnceThenSkips() {
        Path out = tmp.resolve("sample");
        CliRun r = run("data", "sample", "--tokens", "20000", "--out", out.toString());
        assertEquals(0, r.code(), r.toString());
        assertTrue(r.out().contains("shards:") && !DataPaths.trainShards(out).isEmpty(), r.out());
        CliRun again = run("data", "sample", "--tokens", "20000", "--out", out.toString());
        assertTrue(again.out().contains("nothing to do"), again.out());
        assertCleanError(run("data", "sample", "--tokens", "-5", "--out", out.toString()), "--tokens");
        CliRun bench = run("data", "bench", "--dir", out.toString(), "--batch-tokens", "2048", "--world-size", "2", "--max-seq-len", "256");
        assertEquals(0, bench.code(), bench.toString());
        assertTrue(bench.out().contains("tokens/s"), bench.out());
    }

    @Test void downloadFromALocalServerAndFailClearlyOnBadFiles() throws Exception {
        Path src = tmp.resolve("src.bin");
        ShardWriter.write(src, new int[] {Shard.BOS, 1, 2, 3, Shard.BOS, 4});
        byte[] good = Files.readAllBytes(src);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", ex -> {
            String name = ex.getRequestURI().getPath().substring(1);
            byte[] body = name.equals("fineweb_val_000000.bin") ? good : name.equals("fineweb_train_000001.bin") ? new byte[] {1, 2} : null;
            if (body == null) { ex.sendResponseHeaders(404, -1); ex.close(); return; }
            ex.sendResponseHeaders(200, body.length);
            try (var o = ex.getResponseBody()) { o.write(body); }
        });
        server.start();
        try {
            String base = "http://127.0.0.1:" + server.getAddress().getPort() + "/";
            Path dir = tmp.resolve("fw");
            CliRun ok = run("data", "download", "--shards", "0", "--dir", dir.toString(), "--base-url", base);
            assertEquals(0, ok.code(), ok.toString());
            assertArrayEquals(good, Files.readAllBytes(dir.resolve("fineweb_val_000000.bin")));
            CliRun bad = run("data", "download", "--shards", "1", "--dir", dir.toString(), "--base-url", base, "--retries", "1", "--backoff-ms", "1");
            assertCleanError(bad, "fineweb_train_000001.bin");
            assertTrue(bad.out().contains("already complete"), bad.out());
            assertCleanError(run("data", "download", "--shards", "500", "--dir", dir.toString(), "--base-url", base), "--shards");
        } finally {
            server.stop(0);
        }
    }
}
