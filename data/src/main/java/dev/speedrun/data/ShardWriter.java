package dev.speedrun.data;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Writes token shards in the format {@link Shard} reads. The data goes to a temporary file in the
 * same folder which is renamed onto the target only when complete, so a crash never leaves a half
 * shard under the final name.
 */
public final class ShardWriter {
    private ShardWriter() {}

    /** Writes {@code tokens[off, off + len)} (each in {@code [0, 65535]}) as a shard at {@code file}. */
    public static void write(Path file, int[] tokens, int off, int len) {
        java.util.Objects.checkFromIndexSize(off, len, tokens.length);
        char[] t = new char[len];
        for (int i = 0; i < len; i++) {
            int v = tokens[off + i];
            if (v < 0 || v > 0xFFFF) {
                throw new DataException("cannot write " + file + ": token " + v + " at index " + (off + i)
                        + " does not fit in uint16");
            }
            t[i] = (char) v;
        }
        write(file, t, 0, len);
    }

    public static void write(Path file, int[] tokens) { write(file, tokens, 0, tokens.length); }

    /** Writes {@code tokens[off, off + len)} (uint16 values held in chars) as a shard at {@code file}. */
    public static void write(Path file, char[] tokens, int off, int len) {
        java.util.Objects.checkFromIndexSize(off, len, tokens.length);
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            // A hidden sibling with a random suffix: never the final name, never shared by two writers.
            tmp = dir.resolve("." + file.getFileName() + "." + Long.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextLong()) + ".tmp");
            try (OutputStream out = Files.newOutputStream(tmp, java.nio.file.StandardOpenOption.CREATE_NEW,
                    java.nio.file.StandardOpenOption.WRITE)) {
                ByteBuffer header = ByteBuffer.allocate(Shard.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
                header.putInt(0, Shard.MAGIC).putInt(4, Shard.VERSION).putInt(8, len);
                out.write(header.array());
                byte[] chunk = new byte[1 << 16];
                for (int i = 0; i < len; ) {
                    int n = Math.min(len - i, chunk.length / 2);
                    for (int k = 0; k < n; k++) {
                        char c = tokens[off + i + k];
                        chunk[2 * k] = (byte) c;
                        chunk[2 * k + 1] = (byte) (c >>> 8);
                    }
                    out.write(chunk, 0, 2 * n);
                    i += n;
                }
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            tmp = null;
        } catch (IOException e) {
            throw new DataException("cannot write shard " + file + ": " + e, e);
        } finally {
            if (tmp != null) {
                try { Files.deleteIfExists(tmp); } catch (IOException ignored) { /* best effort */ }
            }
        }
    }
}
