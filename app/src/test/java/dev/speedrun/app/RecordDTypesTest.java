package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.cuda.CudaOps;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.ParamSpec;
import dev.speedrun.model.Parameter;
import dev.speedrun.model.Precision;
import dev.speedrun.optim.NorMuon;
import dev.speedrun.optim.Optimizer;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.optim.ParamState;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * The record preset in mixed precision, with the trainer's optimizers, holds every parameter,
 * gradient and optimizer-state tensor, and runs Polar Express, in the dtype docs/model.md's table
 * states for its label (the table is read from that file; the names come from the parameter
 * specs). The record-size model is laid out on a recording CUDA device that holds no data, so the
 * test allocates nothing of that size. F32 precision: everything F32 (cpu-small on the CPU).
 */
class RecordDTypesTest {
    static final Path MODEL_MD = Path.of("../docs/model.md");
    static final String MARKER = "<!-- dtype table: parsed by app RecordDTypesTest -->";

    /** One row of the table: dtypes of the parameter, its gradient, its optimizer state, Polar Express (null: none). */
    record Row(DType param, DType grad, String optimizer, DType state, DType polar) {}

    @Test void recordPresetInMixedPrecisionHasTheTablesDtypes() throws IOException {
        Map<String, Row> table = table();
        GptConfig cfg = GptConfig.record178();
        List<ParamSpec> specs = Gpt.specs(cfg, 1);
        Set<String> labels = new TreeSet<>();
        for (ParamSpec s : specs) labels.add(s.label());
        assertEquals(labels, new TreeSet<>(table.keySet()), "the table's labels are the specs' labels");

        ModelOnRecordingCudaTest.RecordingDevice dev = new ModelOnRecordingCudaTest.RecordingDevice();
        CudaOps ops = new CudaOps(dev);
        int checked = 0;
        try (Gpt gpt = new Gpt(cfg, ops, Precision.MIXED, cfg.blockSize(), 1, 1);
             Optimizers opt = RecordOptimizers.build(gpt, ops, Precision.MIXED);
             MemoryArena into = ops.backend().newArena()) {
            for (ParamSpec s : specs) {
                Row want = table.get(s.label());
                Parameter p = gpt.get(s.name());
                String n = s.name() + " (" + s.label() + ")";
                assertEquals(want.param(), p.value().dtype(), n + " value");
                assertEquals(want.grad(), p.grad().dtype(), n + " gradient");
                Optimizer o = opt.ownerOf(s.name());
                assertTrue(o.config().type().equalsIgnoreCase(want.optimizer()), n + ": optimizer " + o.config().type() + ", table " + want.optimizer());
                ParamState st = opt.exportState(s.name(), into);
                assertEquals(Set.copyOf(o.stateNames()), st.tensors().keySet(), n + " state tensors");
                for (var e : st.tensors().entrySet()) assertEquals(want.state(), e.getValue().dtype(), n + " " + e.getKey());
                if (o instanceof NorMuon nm) assertEquals(want.polar(), nm.polarExpressDType(p), n + " Polar Express");
                else assertEquals(null, want.polar(), n + ": the table gives Polar Express to an Adam parameter");
                checked++;
            }
        }
        assertEquals(specs.size(), checked);
        System.out.printf("record preset, mixed precision: %d parameters' gradient, state and Polar Express dtypes match docs/model.md%n", checked);
    }

    @Test void f32PrecisionIsF32Throughout() {
        GptConfig cfg = GptConfig.preset("cpu-small");
        Ops ops = Kernels.cpu();
        try (Gpt gpt = new Gpt(cfg, ops, Precision.uniform(DType.F32), cfg.blockSize(), 1, 1);
             Optimizers opt = RecordOptimizers.build(gpt, ops, Precision.uniform(DType.F32));
             MemoryArena into = ops.backend().newArena()) {
            for (Parameter p : gpt.parameters()) {
                assertEquals(DType.F32, p.value().dtype(), p.name());
                assertEquals(DType.F32, p.grad().dtype(), p.name() + " gradient");
                for (Tensor t : opt.exportState(p.name(), into).tensors().values()) assertEquals(DType.F32, t.dtype(), p.name() + " state");
                if (opt.ownerOf(p.name()) instanceof NorMuon nm) assertEquals(DType.F32, nm.polarExpressDType(p), p.name() + " Polar Express");
            }
        }
    }

    /** docs/model.md's dtype table by label. */
    static Map<String, Row> table() throws IOException {
        List<String> lines = Files.readAllLines(MODEL_MD);
        int at = lines.indexOf(MARKER);
        assertTrue(at >= 0, MODEL_MD + " has no line '" + MARKER + "'");
        List<String> header = cells(lines.get(at + 1));
        assertEquals(List.of("label", "parameters", "parameter", "gradient", "optimizer", "optimizer state", "Polar Express"), header,
                MODEL_MD + ": dtype table header");
        Map<String, Row> rows = new LinkedHashMap<>();
        for (int i = at + 3; i < lines.size() && lines.get(i).startsWith("|"); i++) {
            List<String> c = cells(lines.get(i));
            String label = c.get(0).replace("`", "");
            String optimizer = c.get(4).split(" ")[0];
            rows.put(label, new Row(dtype(c.get(2)), dtype(c.get(3)), optimizer, dtype(c.get(5)), dtype(c.get(6))));
        }
        assertTrue(!rows.isEmpty(), MODEL_MD + ": empty dtype table");
        return rows;
    }

    static List<String> cells(String line) {
        String t = line.strip();
        t = t.substring(1, t.length() - 1);
        return java.util.Arrays.stream(t.split("\\|")).map(String::strip).toList();
    }

    /** "BF16", "F32", "F64"; "—" (none) is null. */
    static DType dtype(String cell) { return cell.equals("—") ? null : DType.valueOf(cell); }
}
