package dev.speedrun.app;

import dev.speedrun.data.DataPosition;
import dev.speedrun.model.Checkpoints;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.Init;
import dev.speedrun.model.ParamSpec;
import dev.speedrun.model.Parameter;
import dev.speedrun.model.ParameterTable;
import dev.speedrun.optim.Optimizer;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.optim.ParamState;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.TreeMap;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * A training checkpoint: a folder {@code checkpoints/step-NNNNNN/} holding the model
 * ({@code model.safetensors}), the optimizer state of every parameter
 * ({@code optimizer.safetensors}, tensors {@code <param>::<state>}, step counts in the metadata),
 * each rank's pending gradients ({@code grads-rank<r>.safetensors}: Adam accumulates over two
 * steps, so an even step's gradients are part of the state) and the data position
 * ({@code state.properties}), and the configuration that made it ({@code config.properties}).
 * It is written into a temporary folder ({@code step-NNNNNN.tmp}); {@code manifest.sha256} (the
 * SHA-256 of every file, {@code sha256sum -c} format) is written last, atomically, and only then
 * is the folder renamed into place and {@code checkpoints/latest} replaced. A folder without a
 * manifest is incomplete: {@link #pick} skips it and says so; a file whose checksum does not match
 * is rejected by name ({@link #verify}). Every file is a deterministic function of the state, so
 * the same state gives the same bytes.
 */
final class TrainCheckpoint {
    static final String LATEST = "latest";
    static final String MANIFEST = "manifest.sha256";
    static final String CONFIG = "config.properties";
    private static final String SIDECAR = ".sha256";

    private TrainCheckpoint() {}

    static Path folder(Path runDir, int step) { return runDir.resolve("checkpoints").resolve(String.format("step-%06d", step)); }

    /**
     * Writes everything but the gradients of ranks other than the caller's and the manifest; rank 0
     * calls it after all ranks wrote grads. {@code config} is the configuration's facts
     * ({@link #configFacts}). Returns the SHA-256 of each file written.
     */
    static Map<String, String> writeModelAndState(Path tmp, Gpt model, Map<String, ParamState> states, int step, DataPosition pos,
                                                  Map<String, String> info, Map<String, String> config) {
        Map<String, String> digests = new TreeMap<>();
        try {
            Files.createDirectories(tmp);
            digests.put("model.safetensors", Checkpoints.save(model, tmp.resolve("model.safetensors"), fileDType(model),
                    Map.of("step", String.valueOf(step))));
            // a kill here leaves a folder without its manifest: never picked for a resume
            Faults.hold(Faults.Where.CHECKPOINT, step);
            Map<String, String> meta = new LinkedHashMap<>();
            List<Parameter> stateTensors = new ArrayList<>();
            for (var e : states.entrySet()) {
                meta.put(e.getKey() + "::step", String.valueOf(e.getValue().step()));
                for (var t : e.getValue().tensors().entrySet())
                    stateTensors.add(pseudo(e.getKey() + "::" + t.getKey(), t.getValue()));
            }
            digests.put("optimizer.safetensors", Checkpoints.save(table(stateTensors), tmp.resolve("optimizer.safetensors"),
                    fileDType(model), meta));
            Map<String, String> props = new TreeMap<>(info);
            props.put("step", String.valueOf(step));
            props.put("data.shard", String.valueOf(pos.shard()));
            props.put("data.cursor", String.valueOf(pos.cursor()));
            digests.put("state.properties", writeProperties(tmp.resolve("state.properties"), props));
            digests.put(CONFIG, writeProperties(tmp.resolve(CONFIG), config));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + tmp + ": " + Checkpoints.describe(e), e);
        }
        return digests;
    }

    /**
     * {@code key=value} lines sorted by key (readable by {@link java.util.Properties#load}), without
     * the date comment of {@code Properties.store}, so the same facts give the same bytes; returns the SHA-256.
     */
    private static String writeProperties(Path file, Map<String, String> props) throws IOException {
        StringBuilder sb = new StringBuilder("# train-app checkpoint\n");
        for (var e : new TreeMap<>(props).entrySet()) sb.append(escape(e.getKey(), true)).append('=').append(escape(e.getValue(), false)).append('\n');
        byte[] bytes = sb.toString().getBytes(StandardCharsets.UTF_8);
        Files.write(file, bytes);
        return sha256(bytes);
    }

    private static String escape(String s, boolean key) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            switch (c) {
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                case '=', ':', '#', '!' -> b.append('\\').append(c);
                case ' ' -> b.append(key ? "\\ " : " ");
                default -> {
                    if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
                    else b.append(c);
                }
            }
        }
        return b.toString();
    }

    /** This rank's pending gradients, and beside them their SHA-256 for rank 0's manifest (on a shared file system for several nodes). */
    static void writeGrads(Path tmp, Gpt model, int rank) {
        List<Parameter> grads = new ArrayList<>();
        for (Parameter p : model.parameters()) grads.add(pseudo(p.name(), p.grad()));
        String name = gradsName(rank);
        try {
            Files.createDirectories(tmp);
            String digest = Checkpoints.save(table(grads), tmp.resolve(name), fileDType(model), Map.of());
            Files.writeString(tmp.resolve(name + SIDECAR), digest + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + tmp.resolve(name) + ": " + Checkpoints.describe(e), e);
        }
    }

    static String gradsName(int rank) { return "grads-rank" + rank + ".safetensors"; }

    /**
     * Writes the manifest of {@code tmp}: {@code digests} plus the gradients of every rank (their
     * sidecar files, then removed). Written to a temporary name and renamed: it exists only complete.
     */
    static void seal(Path tmp, Map<String, String> digests, int worldSize) {
        Map<String, String> all = new TreeMap<>(digests);
        try {
            for (int r = 0; r < worldSize; r++) {
                Path side = tmp.resolve(gradsName(r) + SIDECAR);
                all.put(gradsName(r), Files.readString(side).strip());
            }
            StringBuilder sb = new StringBuilder();
            for (var e : all.entrySet()) sb.append(e.getValue()).append("  ").append(e.getKey()).append('\n');
            Path part = tmp.resolve(MANIFEST + ".tmp");
            Files.writeString(part, sb);
            try (FileChannel ch = FileChannel.open(part, StandardOpenOption.WRITE)) { ch.force(true); }
            move(part, tmp.resolve(MANIFEST));
            for (int r = 0; r < worldSize; r++) Files.delete(tmp.resolve(gradsName(r) + SIDECAR));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + tmp.resolve(MANIFEST) + ": " + Checkpoints.describe(e), e);
        }
    }

    /** Renames the temporary folder into place and points {@code latest} at it. */
    static Path publish(Path tmp, Path runDir, int step) {
        Path dst = folder(runDir, step);
        try {
            if (Files.exists(dst)) deleteTree(dst);
            move(tmp, dst);
            Faults.hold(Faults.Where.PUBLISH, step);
            Path latestTmp = dst.getParent().resolve(LATEST + ".tmp");
            Files.writeString(latestTmp, dst.getFileName().toString() + "\n");
            move(latestTmp, dst.getParent().resolve(LATEST));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot publish checkpoint " + dst + ": " + Checkpoints.describe(e), e);
        }
        return dst;
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Deletes a checkpoint folder, its manifest first: a kill half-way leaves an incomplete folder, never a complete-looking one. */
    static void deleteTree(Path p) throws IOException {
        Files.deleteIfExists(p.resolve(MANIFEST));
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }

    /** A checkpoint folder from a run folder (its newest complete one), a checkpoints folder, or a checkpoint folder itself. */
    static Path resolve(Path given) { return pick(given).checkpoint(); }

    /** The checkpoint a resume continues from, and the newer folders it passed over (each with why). */
    record Pick(Path checkpoint, List<String> skipped) {}

    /**
     * The newest complete checkpoint under a run folder or its checkpoints folder (complete: its
     * manifest exists; the manifest is written last), or {@code given} itself when it is a
     * checkpoint folder. {@code latest} is not trusted: a kill between the rename of a folder and
     * the update of {@code latest} leaves it one behind.
     */
    static Pick pick(Path given) {
        if (Files.isRegularFile(given.resolve("state.properties")) || Files.isRegularFile(given.resolve(MANIFEST))
                || STEP.matcher(given.getFileName() == null ? "" : given.getFileName().toString()).matches()) {
            if (!Files.isRegularFile(given.resolve(MANIFEST)))
                throw new IllegalArgumentException("--resume " + given + ": incomplete checkpoint (no " + MANIFEST
                        + ": its writing was interrupted)" + hint(given.getParent(), given));
            return new Pick(given, List.of());
        }
        for (Path base : new Path[] {given.resolve("checkpoints"), given}) {
            if (!Files.isDirectory(base)) continue;
            List<Path> folders;
            try (Stream<Path> s = Files.list(base)) {
                folders = s.filter(p -> STEP.matcher(p.getFileName().toString()).matches()).sorted(Comparator.reverseOrder()).toList();
            } catch (IOException e) {
                throw new UncheckedIOException("--resume " + given + ": cannot list " + base + ": " + Checkpoints.describe(e), e);
            }
            if (folders.isEmpty()) continue;
            List<String> skipped = new ArrayList<>();
            for (Path f : folders) {
                if (f.getFileName().toString().endsWith(".tmp")) skipped.add(f + " (a checkpoint being written when the run stopped)");
                else if (!Files.isRegularFile(f.resolve(MANIFEST))) skipped.add(f + " (incomplete: no " + MANIFEST + ")");
                else return new Pick(f, List.copyOf(skipped));
            }
            throw new IllegalArgumentException("--resume " + given + ": no complete checkpoint in " + base + " (skipped " + skipped + ")");
        }
        throw new IllegalArgumentException("--resume " + given + ": no checkpoint there (expected a run folder with checkpoints/"
                + "step-N folders, or a checkpoints/step-N folder)");
    }

    private static final java.util.regex.Pattern STEP = java.util.regex.Pattern.compile("step-\\d+(\\.tmp)?");

    /** Complete checkpoints older than {@code ck} in {@code base}, newest first, as a hint; empty when there are none. */
    private static String hint(Path base, Path ck) {
        if (base == null || !Files.isDirectory(base)) return "";
        try (Stream<Path> s = Files.list(base)) {
            List<Path> older = s.filter(p -> p.getFileName().toString().matches("step-\\d+") && Files.isRegularFile(p.resolve(MANIFEST))
                            && p.getFileName().toString().compareTo(ck.getFileName().toString()) < 0)
                    .sorted(Comparator.reverseOrder()).toList();
            if (older.isEmpty()) return "; there is no earlier complete checkpoint in " + base;
            return "; resume from an earlier checkpoint: --resume " + older.getFirst()
                    + (older.size() > 1 ? " (" + (older.size() - 1) + " older ones too)" : "");
        } catch (IOException e) {
            return "";
        }
    }

    /**
     * Checks every file of checkpoint {@code ck} against its manifest: a missing, truncated or
     * corrupted file, or one the manifest does not list, is an error naming it, with a hint to an
     * earlier checkpoint. Returns how many files were checked.
     */
    static int verify(Path ck) {
        Path manifest = ck.resolve(MANIFEST);
        Map<String, String> want = new TreeMap<>();
        try {
            for (String line : Files.readAllLines(manifest)) {
                if (line.isBlank()) continue;
                int sp = line.indexOf("  ");
                if (sp != 64) throw corrupt(ck, MANIFEST, "line '" + line + "' is not '<sha256>  <file>'");
                want.put(line.substring(sp + 2), line.substring(0, sp));
            }
            for (String name : List.of("model.safetensors", "optimizer.safetensors", "state.properties", CONFIG, gradsName(0)))
                if (!want.containsKey(name)) throw corrupt(ck, MANIFEST, "does not list " + name);
            try (Stream<Path> s = Files.list(ck)) {
                for (Path f : s.sorted().toList()) {
                    String name = f.getFileName().toString();
                    if (!name.equals(MANIFEST) && !want.containsKey(name))
                        throw corrupt(ck, name, "is not part of this checkpoint (not in " + MANIFEST + ")");
                }
            }
            for (var e : want.entrySet()) {
                Path f = ck.resolve(e.getKey());
                if (!Files.isRegularFile(f)) throw corrupt(ck, e.getKey(), "is missing");
                if (!sha256(f).equals(e.getValue()))
                    throw corrupt(ck, e.getKey(), "does not match its SHA-256 in " + MANIFEST + " (truncated, corrupted or from elsewhere)");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read checkpoint " + ck + ": " + Checkpoints.describe(e), e);
        }
        return want.size();
    }

    private static IllegalArgumentException corrupt(Path ck, String file, String what) {
        return new IllegalArgumentException("checkpoint " + ck + ": " + file + " " + what + "; it is not loaded" + hint(ck.getParent(), ck));
    }

    static String sha256(Path f) throws IOException {
        MessageDigest md = newSha();
        try (var in = Files.newInputStream(f)) {
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static String sha256(byte[] b) { return HexFormat.of().formatHex(newSha().digest(b)); }

    private static MessageDigest newSha() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
    }

    /**
     * What must match for a checkpoint to continue under a configuration: every key of the
     * resolved configuration, dotted, except those a resume may change (where the data and runs
     * are, the run's length, the backend and precision, the validation size and checkpoint
     * cadence) and the world size (checked apart: the state can be re-sharded at some steps).
     */
    static Map<String, String> configFacts(dev.speedrun.app.config.TrainConfig cfg) {
        var tree = dev.speedrun.app.config.ConfigLoader.mapper().valueToTree(cfg);
        Map<String, String> out = new TreeMap<>();
        flatten("", (com.fasterxml.jackson.databind.JsonNode) tree, out);
        out.keySet().removeIf(k -> RESUMABLE_CHANGES.stream().anyMatch(p -> k.equals(p) || k.startsWith(p + ".")));
        return out;
    }

    private static final List<String> RESUMABLE_CHANGES = List.of("out", "max_steps", "train_data", "val_data", "backend", "precision",
            "world_size", "validation", "checkpoint");

    private static void flatten(String prefix, com.fasterxml.jackson.databind.JsonNode n, Map<String, String> out) {
        if (n.isObject()) {
            var it = n.fields();
            while (it.hasNext()) {
                var e = it.next();
                flatten(prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey(), e.getValue(), out);
            }
        } else {
            out.put(prefix, n.isValueNode() ? n.asText() : n.toString());
        }
    }

    /** The configuration facts a checkpoint was written with (empty for a checkpoint without them). */
    static Map<String, String> readConfigFacts(Path ck) {
        Path f = ck.resolve(CONFIG);
        Map<String, String> out = new TreeMap<>();
        if (!Files.isRegularFile(f)) return out;
        var props = new java.util.Properties();
        try (var in = Files.newInputStream(f)) { props.load(in); }
        catch (IOException e) { throw new UncheckedIOException("cannot read " + f + ": " + Checkpoints.describe(e), e); }
        for (String k : props.stringPropertyNames()) out.put(k, props.getProperty(k));
        return out;
    }

    /**
     * Fails, naming every key that differs, when checkpoint {@code ck} was written with another
     * configuration than {@code cfg}; a checkpoint without configuration facts differs in every key,
     * unless {@code skipWithoutFacts} (the command's early check, before it knows the checkpoint is whole).
     */
    static void requireSameConfig(Path ck, dev.speedrun.app.config.TrainConfig cfg, boolean skipWithoutFacts) {
        Map<String, String> then = readConfigFacts(ck);
        if (then.isEmpty() && skipWithoutFacts) return;
        List<String> diff = differences(then, configFacts(cfg));
        if (!diff.isEmpty())
            throw new dev.speedrun.app.config.ConfigException("--resume " + ck + ": the checkpoint was written with another configuration ("
                    + String.join("; ", diff) + "); resume with the run's own configuration (no --config), or start a new run");
    }

    /** The keys whose values differ, {@code key: checkpoint → now}, sorted; empty when they match. */
    static List<String> differences(Map<String, String> then, Map<String, String> now) {
        java.util.TreeSet<String> keys = new java.util.TreeSet<>(then.keySet());
        keys.addAll(now.keySet());
        List<String> out = new ArrayList<>();
        for (String k : keys) {
            String a = then.get(k), b = now.get(k);
            if (!java.util.Objects.equals(a, b)) out.add(k + ": " + (a == null ? "(absent)" : a) + " → " + (b == null ? "(absent)" : b));
        }
        return out;
    }

    /** Whether any rank's gradient file holds a non-zero byte: gradients Adam has not applied yet. */
    static boolean pendingGradients(Path ck, int worldSize) {
        for (int r = 0; r < worldSize; r++) {
            Path f = ck.resolve(gradsName(r));
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                while (len.hasRemaining()) if (ch.read(len) < 0) throw new IllegalArgumentException("checkpoint " + f + ": truncated");
                ch.position(8 + len.flip().getLong());
                ByteBuffer buf = ByteBuffer.allocate(1 << 20);
                while (ch.read(buf.clear()) > 0) {
                    buf.flip();
                    while (buf.hasRemaining()) if (buf.get() != 0) return true;
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read checkpoint " + f + ": " + Checkpoints.describe(e), e);
            }
        }
        return false;
    }

    record State(int step, DataPosition position, Map<String, String> info) {}

    static State readState(Path ck) {
        var props = new java.util.Properties();
        try (var in = Files.newInputStream(ck.resolve("state.properties"))) { props.load(in); }
        catch (IOException e) { throw new UncheckedIOException("cannot read " + ck.resolve("state.properties"), e); }
        Map<String, String> info = new HashMap<>();
        for (String k : props.stringPropertyNames()) info.put(k, props.getProperty(k));
        return new State(Integer.parseInt(props.getProperty("step")),
                new DataPosition(Integer.parseInt(props.getProperty("data.shard")), Long.parseLong(props.getProperty("data.cursor"))),
                info);
    }

    /**
     * Loads model, optimizer state (a collective over ranks) and, when {@code grads}, this rank's
     * gradients (a re-sharded resume has none pending: they stay zero).
     */
    static void load(Path ck, Gpt model, Optimizers optimizers, int rank, boolean grads) {
        Checkpoints.load(model, ck.resolve("model.safetensors"));
        if (grads) {
            Path gradsFile = ck.resolve(gradsName(rank));
            if (!Files.isRegularFile(gradsFile))
                throw new IllegalArgumentException("checkpoint " + ck + " has no gradients for rank " + rank
                        + " (was it written with a different world size?)");
            List<Parameter> gs = new ArrayList<>();
            for (Parameter p : model.parameters()) gs.add(pseudo(p.name(), p.grad()));
            Checkpoints.load(table(gs), gradsFile);
        }
        Path optFile = ck.resolve("optimizer.safetensors");
        Map<String, String> meta = Checkpoints.metadata(optFile);
        try (MemoryArena scratch = model.ops().backend().newArena()) {
            List<Parameter> stateTensors = new ArrayList<>();
            Map<String, ParamState> shapes = new LinkedHashMap<>();
            for (Optimizer o : optimizers.optimizers())
                for (Parameter p : o.parameters()) {
                    ParamState s = o.exportState(p, scratch);
                    shapes.put(p.name(), s);
                    for (var t : s.tensors().entrySet()) stateTensors.add(pseudo(p.name() + "::" + t.getKey(), t.getValue()));
                }
            Checkpoints.load(table(stateTensors), optFile);
            for (var e : shapes.entrySet()) {
                String stepKey = e.getKey() + "::step";
                if (!meta.containsKey(stepKey)) throw new IllegalArgumentException(optFile + " has no step count for " + e.getKey());
                optimizers.importState(e.getKey(), new ParamState(Long.parseLong(meta.get(stepKey)), e.getValue().tensors()));
            }
        }
    }

    /** Every parameter's optimizer state (a collective over ranks). */
    static Map<String, ParamState> exportStates(Optimizers optimizers, MemoryArena into) {
        Map<String, ParamState> out = new LinkedHashMap<>();
        for (Optimizer o : optimizers.optimizers())
            for (Parameter p : o.parameters()) out.put(p.name(), o.exportState(p, into));
        return out;
    }

    private static Parameter pseudo(String name, Tensor t) {
        return new Parameter(new ParamSpec(name, t.shape(), new Init.Zeros(), "state", 1, 1, t.dtype()), t, t);
    }

    private static ParameterTable table(List<Parameter> ps) { return () -> ps; }

    /**
     * Dtype of the checkpoint files: the model's, except in mixed precision, whose F32 matrices,
     * gradients and optimizer state would be rounded by the BF16 activation dtype (F32 holds the
     * BF16 parameters exactly, so resuming stays bit-exact).
     */
    static DType fileDType(Gpt model) {
        return model.precision().specParamDTypes() ? DType.F32 : model.dtype();
    }
}
