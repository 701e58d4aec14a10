package dev.speedrun.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ShardTest {
    @TempDir Path tmp;

    static int[] randomTokens(SplittableRandom r, int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(20) == 0 ? Shard.BOS : r.nextInt(0x10000);
        return t;
    }

    @Test void roundTripKeepsEveryTokenAndLeavesNoTempFile() throws Exception {
        int[] t = randomTokens(new SplittableRandom(1), 100_003);
        t[0] = 0xFFFF;
        Path f = tmp.resolve("x_train_000000.bin");
        ShardWriter.write(f, t);
        assertEquals(Shard.HEADER_BYTES + 2L * t.length, Files.size(f));
        try (var s = Files.list(tmp)) { assertEquals(List.of(f), s.toList(), "only the final file remains"); }
        try (Shard s = Shard.open(f)) {
            assertEquals(t.length, s.size());
            int[] back = new int[t.length];
            s.copy(0, back, 0, t.length);
            assertArrayEquals(t, back);
            assertEquals(t[777], s.token(777));
            int[] bos = s.bosPositions(Shard.BOS);
            int expected = 0;
            for (int i = 0; i < t.length; i++) if (t[i] == Shard.BOS) assertEquals(i, bos[expected++]);
            assertEquals(expected, bos.length);
        }
    }

    @Test void writerRejectsTokensOutsideUint16() {
        var e = assertThrows(DataException.class, () -> ShardWriter.write(tmp.resolve("a.bin"), new int[] {1, 70000}));
        assertTrue(e.getMessage().contains("70000"), e.getMessage());
        assertFalse(Files.exists(tmp.resolve("a.bin")));
    }

    private Path withHeader(String name, int magic, int version, int count, int tokenBytes) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(Shard.HEADER_BYTES + tokenBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, magic).putInt(4, version).putInt(8, count);
        Path f = tmp.resolve(name);
        Files.write(f, b.array());
        return f;
    }

    private static void assertRejected(Path f, String... words) {
        var e = assertThrows(ShardFormatException.class, () -> Shard.open(f));
        assertEquals(f, e.file());
        assertTrue(e.getMessage().contains(f.toString()), "names the file: " + e.getMessage());
        for (String w : words) assertTrue(e.getMessage().contains(w), "mentions '" + w + "': " + e.getMessage());
        assertThrows(ShardFormatException.class, () -> Shard.checkHeader(f));
    }

    @Test void corruptMagic() throws Exception { assertRejected(withHeader("m.bin", 12345, 1, 4, 8), "magic", "12345"); }

    @Test void wrongVersion() throws Exception { assertRejected(withHeader("v.bin", Shard.MAGIC, 2, 4, 8), "version", "2"); }

    @Test void truncated() throws Exception { assertRejected(withHeader("t.bin", Shard.MAGIC, 1, 10, 8), "10 tokens", "truncated"); }

    @Test void trailingBytes() throws Exception { assertRejected(withHeader("l.bin", Shard.MAGIC, 1, 2, 8), "trailing"); }

    @Test void emptyFile() throws Exception {
        Path f = tmp.resolve("e.bin");
        Files.write(f, new byte[0]);
        assertRejected(f, "0 bytes");
    }

    @Test void headerOnlyFileIsAValidEmptyShard() throws Exception {
        try (Shard s = Shard.open(withHeader("z.bin", Shard.MAGIC, 1, 0, 0))) {
            assertEquals(0, s.size());
            assertEquals(0, s.bosPositions(Shard.BOS).length);
        }
    }

    @Test void missingFileIsAShardError() {
        assertRejected(tmp.resolve("nope.bin"), "cannot read");
    }

    @Test void readsAfterCloseFailCleanly() throws Exception {
        Path f = tmp.resolve("c.bin");
        ShardWriter.write(f, new int[] {1, 2, 3});
        Shard s = Shard.open(f);
        s.close();
        assertThrows(IllegalStateException.class, () -> s.token(0));
    }

    /** Random bytes, random headers: the reader either opens a consistent shard or throws ShardFormatException. */
    @Test void fuzzedFilesOnlyEverThrowTheDocumentedException() throws Exception {
        SplittableRandom r = new SplittableRandom(42);
        for (int i = 0; i < 300; i++) {
            int len = switch (i % 3) { case 0 -> r.nextInt(2048); case 1 -> Shard.HEADER_BYTES + r.nextInt(64); default -> r.nextInt(8192); };
            byte[] bytes = new byte[len];
            r.nextBytes(bytes);
            if (len >= 12 && r.nextBoolean()) { // often a plausible header so the deeper checks run
                ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
                b.putInt(0, Shard.MAGIC);
                if (r.nextBoolean()) b.putInt(4, Shard.VERSION);
                if (r.nextBoolean() && len >= Shard.HEADER_BYTES) b.putInt(8, (len - Shard.HEADER_BYTES) / 2 + r.nextInt(3) - 1);
            }
            Path f = tmp.resolve("fuzz" + i + ".bin");
            Files.write(f, bytes);
            try (Shard s = Shard.open(f)) {
                assertEquals(Shard.HEADER_BYTES + 2L * s.size(), len);
                s.bosPositions(Shard.BOS);
                if (s.size() > 0) s.token(s.size() - 1);
            } catch (ShardFormatException expected) {
                assertTrue(expected.getMessage().contains(f.toString()));
            }
        }
    }
}
