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
import java.nio.file.AtomicMoveNotSupportedException;
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
 * ({@code state.properties}). It is written into a temporary folder and renamed, and
 * {@code checkpoints/latest} is replaced atomically afterwards, so a crash leaves the previous
 * checkpoint usable.
 */
final class TrainCheckpoint {
    static final String LATEST = "latest";

    private TrainCheckpoint() {}

    static Path folder(Path runDir, int step) { return runDir.resolve("checkpoints").resolve(String.format("step-%06d", step)); }

    /** Writes everything but the gradients of ranks other than the caller's. Rank 0 calls it after all ranks wrote grads. */
    static void writeModelAndState(Path tmp, Gpt model, Map<String, ParamState> states, int step, DataPosition pos,
                                   Map<String, String> info) {
        try {
            Files.createDirectories(tmp);
            Checkpoints.save(model, tmp.resolve("model.safetensors"), fileDType(model), Map.of("step", String.valueOf(step)));
            Map<String, String> meta = new LinkedHashMap<>();
            List<Parameter> stateTensors = new ArrayList<>();
            for (var e : states.entrySet()) {
                meta.put(e.getKey() + "::step", String.valueOf(e.getValue().step()));
                for (var t : e.getValue().tensors().entrySet())
                    stateTensors.add(pseudo(e.getKey() + "::" + t.getKey(), t.getValue()));
            }
            Checkpoints.save(table(stateTensors), tmp.resolve("optimizer.safetensors"), fileDType(model), meta);
            var props = new java.util.Properties();
            props.setProperty("step", String.valueOf(step));
            props.setProperty("data.shard", String.valueOf(pos.shard()));
            props.setProperty("data.cursor", String.valueOf(pos.cursor()));
            info.forEach(props::setProperty);
            try (var out = Files.newOutputStream(tmp.resolve("state.properties"))) { props.store(out, "train-app checkpoint"); }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write checkpoint " + tmp + ": " + e.getMessage(), e);
        }
    }

    static void writeGrads(Path tmp, Gpt model, int rank) {
        List<Parameter> grads = new ArrayList<>();
        for (Parameter p : model.parameters()) grads.add(pseudo(p.name(), p.grad()));
        try {
            Files.createDirectories(tmp);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Checkpoints.save(table(grads), tmp.resolve("grads-rank" + rank + ".safetensors"), fileDType(model), Map.of());
    }

    /** Renames the temporary folder into place and points {@code latest} at it. */
    static Path publish(Path tmp, Path runDir, int step) {
        Path dst = folder(runDir, step);
        try {
            if (Files.exists(dst)) deleteTree(dst);
            move(tmp, dst);
            Path latestTmp = dst.getParent().resolve(LATEST + ".tmp");
            Files.writeString(latestTmp, dst.getFileName().toString() + "\n");
            move(latestTmp, dst.getParent().resolve(LATEST));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot publish checkpoint " + dst + ": " + e.getMessage(), e);
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

    static void deleteTree(Path p) throws IOException {
        try (Stream<Path> s = Files.walk(p)) {
            for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }

    /** A checkpoint folder from a run folder (its latest), a checkpoints folder, or a checkpoint folder itself. */
    static Path resolve(Path given) {
        if (Files.isRegularFile(given.resolve("state.properties"))) return given;
        for (Path base : new Path[] {given.resolve("checkpoints"), given}) {
            Path latest = base.resolve(LATEST);
            if (Files.isRegularFile(latest)) {
                try {
                    Path ck = base.resolve(Files.readString(latest).strip());
                    if (Files.isRegularFile(ck.resolve("state.properties"))) return ck;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        throw new IllegalArgumentException("--resume " + given + ": no checkpoint there (expected a run folder with checkpoints/"
                + LATEST + ", or a checkpoints/step-N folder)");
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

    /** Loads model, optimizer state (a collective over ranks) and this rank's gradients. */
    static void load(Path ck, Gpt model, Optimizers optimizers, int rank) {
        Checkpoints.load(model, ck.resolve("model.safetensors"));
        Path gradsFile = ck.resolve("grads-rank" + rank + ".safetensors");
        if (!Files.isRegularFile(gradsFile))
            throw new IllegalArgumentException("checkpoint " + ck + " has no gradients for rank " + rank
                    + " (was it written with a different world size?)");
        List<Parameter> grads = new ArrayList<>();
        for (Parameter p : model.parameters()) grads.add(pseudo(p.name(), p.grad()));
        Checkpoints.load(table(grads), gradsFile);
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
