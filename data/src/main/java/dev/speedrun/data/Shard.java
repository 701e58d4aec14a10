package dev.speedrun.data;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * A memory-mapped token shard (spec §1): a little-endian header of {@value #HEADER_INTS} int32
 * ({@code [0]} = {@value #MAGIC}, {@code [1]} = {@value #VERSION}, {@code [2]} = token count N),
 * then N uint16 tokens. {@link #open} validates the header against the file length, so a shard
 * that opens is complete. Thread-safe for reads; {@link #close} unmaps (later reads then fail with
 * {@link IllegalStateException}, never a crash).
 */
public final class Shard implements AutoCloseable {
    public static final int MAGIC = 20240520;
    public static final int VERSION = 1;
    public static final int HEADER_INTS = 256;
    public static final int HEADER_BYTES = HEADER_INTS * Integer.BYTES;
    /** GPT-2 {@code <|endoftext|>}: starts every document. */
    public static final int BOS = 50256;

    private static final ValueLayout.OfShort U16 =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path file;
    private final Arena arena;
    private final MemorySegment tokens;
    private final int size;

    private Shard(Path file, Arena arena, MemorySegment tokens, int size) {
        this.file = file;
        this.arena = arena;
        this.tokens = tokens;
        this.size = size;
    }

    /** Validated header of {@code file}: returns the token count. Reads only the header. */
    public static int checkHeader(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long length = ch.size();
            if (length < HEADER_BYTES) {
                throw new ShardFormatException(file, "file has " + length + " bytes, shorter than the "
                        + HEADER_BYTES + "-byte header (empty or truncated)");
            }
            java.nio.ByteBuffer hdr = java.nio.ByteBuffer.allocate(3 * Integer.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            while (hdr.hasRemaining()) {
                if (ch.read(hdr, hdr.position()) < 0) throw new ShardFormatException(file, "unexpected end of file in header");
            }
            return checkHeader(file, hdr.getInt(0), hdr.getInt(4), hdr.getInt(8), length);
        } catch (IOException e) {
            throw new ShardFormatException(file, "cannot read: " + e, e);
        }
    }

    private static int checkHeader(Path file, int magic, int version, int count, long length) {
        if (magic != MAGIC) throw new ShardFormatException(file, "bad magic " + magic + " (expected " + MAGIC + "); not a token shard");
        if (version != VERSION) throw new ShardFormatException(file, "unsupported version " + version + " (expected " + VERSION + ")");
        if (count < 0) throw new ShardFormatException(file, "negative token count " + count);
        long expected = HEADER_BYTES + 2L * count;
        if (expected != length) {
            throw new ShardFormatException(file, "header says " + count + " tokens (" + expected + " bytes) but the file has "
                    + length + " bytes" + (length < expected ? " (truncated)" : " (trailing bytes)"));
        }
        return count;
    }

    /** Maps and validates {@code file}. Throws {@link ShardFormatException} for any problem. */
    public static Shard open(Path file) {
        int count = checkHeader(file);
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long length = ch.size();
            // Re-check: the file could have changed between the header check and the map.
            checkHeader(file, MAGIC, VERSION, count, length);
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, length, arena);
            checkHeader(file, all.get(I32, 0), all.get(I32, 4), all.get(I32, 8), length);
            return new Shard(file, arena, all.asSlice(HEADER_BYTES), count);
        } catch (IOException e) {
            arena.close();
            throw new ShardFormatException(file, "cannot map: " + e, e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    public Path file() { return file; }

    /** Number of tokens N. */
    public int size() { return size; }

    /** Token {@code i} in {@code [0, size)}, as an unsigned value. */
    public int token(int i) {
        return Short.toUnsignedInt(tokens.getAtIndex(U16, Objects.checkIndex(i, size)));
    }

    /** Copies tokens {@code [from, from + len)} into {@code dst[off, off + len)}. */
    public void copy(int from, int[] dst, int off, int len) {
        Objects.checkFromIndexSize(from, len, size);
        Objects.checkFromIndexSize(off, len, dst.length);
        short[] chunk = new short[Math.min(len, 8192)];
        for (int done = 0; done < len; ) {
            int n = Math.min(chunk.length, len - done);
            MemorySegment.copy(tokens, U16, 2L * (from + done), chunk, 0, n); // bulk read, then widen
            for (int k = 0; k < n; k++) dst[off + done + k] = Short.toUnsignedInt(chunk[k]);
            done += n;
        }
    }

    /** Positions of every {@code bos} token, ascending. Also pages the whole shard in. */
    public int[] bosPositions(int bos) {
        int[] out = new int[1024];
        int n = 0;
        short b = (short) bos;
        short[] chunk = new short[1 << 16];
        for (int base = 0; base < size; base += chunk.length) {
            int m = Math.min(chunk.length, size - base);
            MemorySegment.copy(tokens, U16, 2L * base, chunk, 0, m);
            for (int k = 0; k < m; k++) {
                if (chunk[k] == b) {
                    if (n == out.length) out = java.util.Arrays.copyOf(out, out.length * 2);
                    out[n++] = base + k;
                }
            }
        }
        return java.util.Arrays.copyOf(out, n);
    }

    @Override public void close() { arena.close(); }

    @Override public String toString() { return "Shard[" + file + ", " + size + " tokens]"; }

    /** Files in {@code dir} whose names match the glob, sorted by name. */
    public static java.util.List<Path> list(Path dir, String glob) {
        if (!Files.isDirectory(dir)) throw new DataException("data folder " + dir + " does not exist");
        java.util.List<Path> out = new java.util.ArrayList<>();
        try (var ds = Files.newDirectoryStream(dir, glob)) {
            for (Path p : ds) if (Files.isRegularFile(p)) out.add(p);
        } catch (IOException e) {
            throw new DataException("cannot list " + dir + ": " + e, e);
        }
        out.sort(java.util.Comparator.comparing(p -> p.getFileName().toString()));
        return out;
    }
}
