package dev.speedrun.data;

import static org.junit.jupiter.api.Assertions.*;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The downloader against a local HTTP server (no internet): ranges, drops, bad files. */
class FineWebDownloaderTest {
    @TempDir Path tmp;
    HttpServer server;
    final Map<String, byte[]> files = new ConcurrentHashMap<>();
    /** Per file: how many upcoming responses are cut off after half the body. */
    final Map<String, AtomicInteger> drops = new ConcurrentHashMap<>();
    final AtomicInteger requests = new AtomicInteger();
    final AtomicInteger rangeRequests = new AtomicInteger();

    @BeforeEach void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/repo/", this::serve);
        server.start();
    }

    @AfterEach void stop() { server.stop(0); }

    private void serve(HttpExchange ex) throws IOException {
        requests.incrementAndGet();
        String name = ex.getRequestURI().getPath().substring("/repo/".length());
        byte[] body = files.get(name);
        if (body == null) { ex.sendResponseHeaders(404, -1); ex.close(); return; }
        String range = ex.getRequestHeaders().getFirst("Range");
        int from = 0;
        if (range != null) {
            rangeRequests.incrementAndGet();
            from = Integer.parseInt(range.replaceAll("bytes=(\\d+)-", "$1"));
            if (from >= body.length) { ex.sendResponseHeaders(416, -1); ex.close(); return; }
            ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + (body.length - 1) + "/" + body.length);
            ex.sendResponseHeaders(206, body.length - from);
        } else {
            ex.sendResponseHeaders(200, body.length);
        }
        AtomicInteger d = drops.get(name);
        boolean drop = d != null && d.getAndDecrement() > 0;
        OutputStream out = ex.getResponseBody();
        int to = drop ? from + (body.length - from) / 2 : body.length;
        out.write(body, from, to - from);
        out.flush();
        if (drop) { ex.getHttpContext().getServer(); ex.close(); return; } // connection closes mid-body
        out.close();
    }

    byte[] shardBytes(int tokens, long seed) throws IOException {
        Path f = tmp.resolve("src" + seed + ".bin");
        int[] t = new int[tokens];
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = 0; i < tokens; i++) t[i] = r.nextInt(50257);
        ShardWriter.write(f, t);
        byte[] b = Files.readAllBytes(f);
        Files.delete(f);
        return b;
    }

    FineWebDownloader downloader(Path dir) {
        URI base = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/repo");
        return new FineWebDownloader(new FineWebDownloader.Options(base, dir, 3, Duration.ofMillis(10), Duration.ofSeconds(10)));
    }

    @Test void downloadsSkipsCompleteFilesAndResumesDroppedConnections() throws Exception {
        files.put("fineweb_val_000000.bin", shardBytes(30_000, 1));
        files.put("fineweb_train_000001.bin", shardBytes(50_000, 2));
        files.put("fineweb_train_000002.bin", shardBytes(40_000, 3));
        drops.put("fineweb_train_000001.bin", new AtomicInteger(2)); // two drops, then fine
        Path dir = tmp.resolve("fw");
        List<String> retries = new java.util.ArrayList<>();
        var listener = new FineWebDownloader.Listener() {
            @Override public void retrying(String file, int attempt, String reason, Duration wait) { retries.add(file + ": " + reason); }
        };
        var r = downloader(dir).download(2, listener);
        assertEquals(3, r.downloaded());
        for (var e : files.entrySet()) assertArrayEquals(e.getValue(), Files.readAllBytes(dir.resolve(e.getKey())), e.getKey());
        assertEquals(2, retries.size(), retries.toString());
        assertTrue(rangeRequests.get() >= 2, "resumed with Range requests");
        try (var s = Files.list(dir)) { assertEquals(3, s.count(), "no .part files left"); }

        int before = requests.get();
        var again = downloader(dir).download(2, new FineWebDownloader.Listener() {});
        assertEquals(3, again.skipped());
        assertEquals(before, requests.get(), "complete files are not fetched again");
    }

    @Test void resumesAPartialFileLeftByAnEarlierRun() throws Exception {
        byte[] val = shardBytes(20_000, 4);
        files.put("fineweb_val_000000.bin", val);
        Path dir = tmp.resolve("fw2");
        Files.createDirectories(dir);
        Files.write(dir.resolve("fineweb_val_000000.bin.part"), java.util.Arrays.copyOf(val, 12_345));
        var r = downloader(dir).download(0, new FineWebDownloader.Listener() {});
        assertEquals(val.length - 12_345, r.bytes(), "only the missing bytes were transferred");
        assertArrayEquals(val, Files.readAllBytes(dir.resolve("fineweb_val_000000.bin")));
    }

    @Test void badFileIsRejectedAndNotKept() throws Exception {
        byte[] bad = shardBytes(1000, 5);
        bad[0] ^= 1; // corrupt magic
        files.put("fineweb_val_000000.bin", bad);
        Path dir = tmp.resolve("fw3");
        var e = assertThrows(DataException.class, () -> downloader(dir).download(0, new FineWebDownloader.Listener() {}));
        assertTrue(e.getMessage().contains("fineweb_val_000000.bin") && e.getMessage().contains("magic"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("fineweb_val_000000.bin")));
        assertEquals(4, requests.get(), "first try + 3 retries");
    }

    @Test void missingFileFailsAtOnce() {
        Path dir = tmp.resolve("fw4");
        var e = assertThrows(DataException.class, () -> downloader(dir).download(0, new FineWebDownloader.Listener() {}));
        assertTrue(e.getMessage().contains("404"), e.getMessage());
        assertEquals(1, requests.get());
        assertThrows(DataException.class, () -> FineWebDownloader.fileNames(104));
    }
}
