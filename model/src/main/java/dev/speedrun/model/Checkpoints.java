package dev.speedrun.model;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Parameters in safetensors files (little-endian; F64, F32 or BF16) under the record's
 * state-dict names. Saving writes a temporary file beside the target and renames it, so a crash
 * never leaves a half-written checkpoint. Loading converts to the model's dtype; a missing,
 * unknown or misshaped tensor is an error naming it. {@code scalars} may differ only in its
 * padding (world size): the leading entries are loaded, padding entries are set to 1.
 *
 * <p>The same tensors and metadata always give the same bytes: the header lists the metadata
 * sorted by key and the tensors in table order, so a checkpoint's checksum identifies its state.
 * {@link #save} returns the SHA-256 of what it wrote (computed while writing, so a checkpoint's
 * manifest costs no second read). A {@link WriteHook} sees every write before it happens: tests and
 * fault drills make writes fail there as a full disk would.
 */
public final class Checkpoints {
    private static final long CHUNK = 1 << 20; // elements per host transfer

    private Checkpoints() {}

    /** Called before each block of bytes is written to a checkpoint's temporary file. */
    @FunctionalInterface
    public interface WriteHook {
        /** May throw, as the file system would, to make the write of {@code bytes} at {@code offset} of {@code target} fail. */
        void beforeWrite(Path target, long offset, int bytes) throws IOException;
    }

    private static volatile WriteHook writeHook;

    /** Installs {@code hook} (null: none) for every later write; returns the previous one. */
    public static WriteHook setWriteHook(WriteHook hook) {
        WriteHook old = writeHook;
        writeHook = hook;
        return old;
    }

    /**
     * Writes every parameter of {@code table} to {@code file} in {@code dtype} (F64, F32 or BF16);
     * returns the file's SHA-256 (lower-case hex).
     */
    public static String save(ParameterTable table, Path file, DType dtype, Map<String, String> metadata) {
        String code = code(dtype);
        StringBuilder h = new StringBuilder("{");
        if (metadata != null && !metadata.isEmpty()) {
            h.append("\"__metadata__\":{");
            boolean first = true;
            // sorted: a Map.of's iteration order changes from one JVM to the next
            for (var e : new java.util.TreeMap<>(metadata).entrySet()) {
                if (!first) h.append(',');
                first = false;
                h.append(MiniJson.quote(e.getKey())).append(':').append(MiniJson.quote(e.getValue()));
            }
            h.append("},");
        }
        long off = 0;
        List<Parameter> ps = table.parameters();
        for (int k = 0; k < ps.size(); k++) {
            Parameter p = ps.get(k);
            long bytes = p.value().numel() * dtype.byteSize();
            if (k > 0) h.append(',');
            h.append(MiniJson.quote(p.name())).append(":{\"dtype\":\"").append(code).append("\",\"shape\":[");
            long[] dims = p.spec().shape().dims();
            for (int d = 0; d < dims.length; d++) h.append(d > 0 ? "," : "").append(dims[d]);
            h.append("],\"data_offsets\":[").append(off).append(',').append(off + bytes).append("]}");
            off += bytes;
        }
        h.append('}');
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        int pad = (8 - header.length % 8) % 8; // the format allows trailing spaces; align data to 8
        byte[] padded = new byte[header.length + pad];
        System.arraycopy(header, 0, padded, 0, header.length);
        for (int k = header.length; k < padded.length; k++) padded[k] = ' ';

        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        String digest;
        try {
            if (dir != null) Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, abs.getFileName() + ".", ".tmp");
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                Sink out = new Sink(ch, abs);
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded.length).flip();
                out.write(len);
                out.write(ByteBuffer.wrap(padded));
                for (Parameter p : ps) writeTensor(out, p.value(), dtype);
                ch.force(true);
                digest = java.util.HexFormat.of().formatHex(out.sha.digest());
            } catch (IOException | RuntimeException e) {
                Files.deleteIfExists(tmp);
                throw e;
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + file + ": " + describe(e), e);
        }
        return digest;
    }

    /** An I/O failure in words: the JDK's messages of some are only the path. */
    public static String describe(IOException e) {
        String kind = switch (e) {
            case java.nio.file.AccessDeniedException a -> "permission denied";
            case java.nio.file.NoSuchFileException n -> "no such file or folder";
            case java.nio.file.FileAlreadyExistsException x -> "a file is in the way";
            case java.nio.file.NotDirectoryException x -> "not a folder";
            case java.nio.file.FileSystemException f when f.getReason() == null -> f.getClass().getSimpleName();
            default -> null;   // the message carries the reason (FileSystemException: "path: reason")
        };
        String msg = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return kind == null ? msg : msg + " (" + kind + ")";
    }

    /** Where a checkpoint's bytes go: the write hook, the SHA-256, then the channel. */
    private static final class Sink {
        final FileChannel ch;
        final Path target;
        final java.security.MessageDigest sha;
        long offset;

        Sink(FileChannel ch, Path target) {
            this.ch = ch;
            this.target = target;
            try {
                this.sha = java.security.MessageDigest.getInstance("SHA-256");
            } catch (java.security.NoSuchAlgorithmException e) {
                throw new IllegalStateException("SHA-256 is required of every Java platform", e);
            }
        }

        void write(ByteBuffer b) throws IOException {
            WriteHook hook = writeHook;
            if (hook != null) hook.beforeWrite(target, offset, b.remaining());
            offset += b.remaining();
            sha.update(b.duplicate());
            while (b.hasRemaining()) ch.write(b);
        }
    }

    /** Loads every parameter of {@code table} from {@code file}; see the class comment for the checks. */
    public static void load(ParameterTable table, Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            long size = ch.size();
            if (size < 8) throw bad(file, "shorter than its 8-byte header length");
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long n = all.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (n < 2 || 8 + n > size) throw bad(file, "header length " + n + " does not fit the file size " + size);
            byte[] hb = all.asSlice(8, n).toArray(ValueLayout.JAVA_BYTE);
            Object parsed;
            try {
                parsed = MiniJson.parse(new String(hb, StandardCharsets.UTF_8));
            } catch (IllegalArgumentException e) {
                throw bad(file, "header: " + e.getMessage());
            }
            if (!(parsed instanceof Map<?, ?> header)) throw bad(file, "header is not a JSON object");
            long dataStart = 8 + n;
            Set<String> known = new HashSet<>();
            List<String> missing = new ArrayList<>();
            for (Parameter p : table.parameters()) {
                known.add(p.name());
                Object e = header.get(p.name());
                if (e == null) { missing.add(p.name()); continue; }
                loadTensor(file, p, (Map<?, ?>) e, all, dataStart, size);
            }
            if (!missing.isEmpty()) throw bad(file, "missing tensor(s) " + missing);
            List<String> unknown = new ArrayList<>();
            for (Object k : header.keySet()) if (!k.equals("__metadata__") && !known.contains((String) k)) unknown.add((String) k);
            if (!unknown.isEmpty()) throw bad(file, "unknown tensor(s) " + unknown + " (not parameters of this model)");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read checkpoint " + file + ": " + e.getMessage(), e);
        }
    }

    /** The {@code __metadata__} of a safetensors file (empty when absent). */
    public static Map<String, String> metadata(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            while (len.hasRemaining()) if (ch.read(len) < 0) throw bad(file, "shorter than its 8-byte header length");
            long n = len.flip().getLong();
            if (n < 2 || 8 + n > ch.size()) throw bad(file, "header length " + n + " does not fit the file size");
            ByteBuffer hb = ByteBuffer.allocate(Math.toIntExact(n));
            while (hb.hasRemaining()) if (ch.read(hb) < 0) throw bad(file, "truncated header");
            Object parsed = MiniJson.parse(new String(hb.array(), StandardCharsets.UTF_8));
            Map<String, String> out = new java.util.LinkedHashMap<>();
            if (parsed instanceof Map<?, ?> m && m.get("__metadata__") instanceof Map<?, ?> meta)
                for (var e : meta.entrySet()) out.put(String.valueOf(e.getKey()), String.valueOf(e.getValue()));
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read checkpoint " + file + ": " + e.getMessage(), e);
        }
    }

    private static void loadTensor(Path file, Parameter p, Map<?, ?> e, MemorySegment all, long dataStart, long size) {
        DType dt = parseCode(file, p.name(), String.valueOf(e.get("dtype")));
        List<?> shapeList = (List<?>) e.get("shape");
        List<?> offs = (List<?>) e.get("data_offsets");
        if (shapeList == null || offs == null || offs.size() != 2) throw bad(file, "tensor '" + p.name() + "' lacks shape or data_offsets");
        long[] dims = new long[shapeList.size()];
        long numel = 1;
        for (int d = 0; d < dims.length; d++) { dims[d] = ((Number) shapeList.get(d)).longValue(); numel *= dims[d]; }
        long begin = ((Number) offs.get(0)).longValue(), end = ((Number) offs.get(1)).longValue();
        if (begin < 0 || end - begin != numel * dt.byteSize() || dataStart + end > size)
            throw bad(file, "tensor '" + p.name() + "' has data_offsets [" + begin + ", " + end + ") inconsistent with its shape or the file size");
        long[] want = p.spec().shape().dims();
        boolean scalarsPadding = p.name().equals("scalars") && dims.length == 1 && want.length == 1;
        if (!java.util.Arrays.equals(dims, want) && !scalarsPadding)
            throw bad(file, "tensor '" + p.name() + "' has shape " + java.util.Arrays.toString(dims) + ", the model needs " + java.util.Arrays.toString(want));
        MemorySegment src = all.asSlice(dataStart + begin, end - begin);
        Tensor dst = p.value().reshape(p.value().numel());
        if (scalarsPadding && dims[0] != want[0]) {
            // Only the padding may differ; the padding entries past the file's are ones.
            double[] v = new double[Math.toIntExact(want[0])];
            java.util.Arrays.fill(v, 1.0);
            for (int k = 0; k < Math.min(dims[0], want[0]); k++) v[k] = HostData.read(src, dt, k);
            for (long k = want[0]; k < dims[0]; k++)
                if (HostData.read(src, dt, k) != 1.0) throw bad(file, "tensor 'scalars' has " + dims[0] + " entries; the model needs " + want[0] + " and the extra ones are not padding");
            HostData.write(dst, v);
            return;
        }
        for (long s = 0; s < numel; s += CHUNK) {
            int cnt = Math.toIntExact(Math.min(CHUNK, numel - s));
            double[] v = new double[cnt];
            for (int k = 0; k < cnt; k++) v[k] = HostData.read(src, dt, s + k);
            HostData.write(dst.view(s, cnt), v);
        }
    }

    private static void writeTensor(Sink out, Tensor t, DType dtype) throws IOException {
        Tensor flat = t.reshape(t.numel());
        long n = t.numel();
        for (long s = 0; s < n; s += CHUNK) {
            int cnt = Math.toIntExact(Math.min(CHUNK, n - s));
            double[] v = HostData.toDoubles(flat.view(s, cnt));
            ByteBuffer bb = ByteBuffer.allocate(cnt * dtype.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
            MemorySegment seg = MemorySegment.ofBuffer(bb);
            for (int k = 0; k < cnt; k++) HostData.store(seg, dtype, k, v[k]);
            out.write(bb);
        }
    }

    private static String code(DType d) {
        return switch (d) {
            case F64 -> "F64";
            case F32 -> "F32";
            case BF16 -> "BF16";
            default -> throw new IllegalArgumentException("checkpoints are F64, F32 or BF16, not " + d);
        };
    }

    private static DType parseCode(Path file, String name, String code) {
        return switch (code) {
            case "F64" -> DType.F64;
            case "F32" -> DType.F32;
            case "BF16" -> DType.BF16;
            default -> throw bad(file, "tensor '" + name + "' has dtype " + code + " (supported: F64, F32, BF16)");
        };
    }

    private static IllegalArgumentException bad(Path file, String what) {
        return new IllegalArgumentException("checkpoint " + file + ": " + what);
    }
}
