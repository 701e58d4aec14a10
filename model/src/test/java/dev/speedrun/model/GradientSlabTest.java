package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.model.Activations.GradientSlab;
import dev.speedrun.model.Activations.Gradients;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Fixtures;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The backward's packed scratch ({@link GradientSlab}): at every micro-batch size the buffers are
 * disjoint, fit the flat buffer, and each zeroing run covers exactly the buffers the backward
 * accumulates into at that point and none that it still reads or that another run owns.
 */
class GradientSlabTest {
    private static final JsonNode FX = Fixtures.json("model_tiny.json");
    private static final GptConfig CFG = TestSupport.config(FX.get("config"));

    /** Per run, the buffers it must cover. */
    private static final Set<String> ENTRY = Set.of("x0", "skip", "backout", "headX", "smeared", "lookup", "stream");
    private static final Set<String> LAYER = Set.of("fc", "gated", "attended", "attnNorm", "q", "k", "v", "qProj", "kProj");

    @Test void runsCoverExactlyTheirBuffersAtEveryMicroBatchSize() {
        int maxTokens = FX.get("tokens").size();
        long C = CFG.modelDim(), H = CFG.numHeads(), D = CFG.headDim(), F = CFG.mlpHidden();
        for (DType dt : List.of(DType.F64, DType.F32, DType.BF16)) {
            try (MemoryArena arena = Kernels.cpu().backend().newArena()) {
                Tensor flat = arena.allocate(dt, GradientSlab.elements(maxTokens, dt.byteSize(), C, H, D, F));
                GradientSlab slab = new GradientSlab(flat, arena.allocate(DType.F64, 1), C, H, D, F);
                for (int T : new int[] {1, maxTokens / 2 + 1, maxTokens}) {
                    String at = dt + " T=" + T;
                    Gradients g = slab.at(T);
                    Map<String, Tensor> bufs = buffers(g);
                    // shapes, bounds, disjointness
                    for (var e : bufs.entrySet()) {
                        Tensor t = e.getValue();
                        assertEquals(T, t.dim(0), at + ": " + e.getKey() + " rows");
                        assertTrue(t.byteOffset() >= flat.byteOffset() && end(t) <= end(flat), at + ": " + e.getKey() + " outside the flat buffer");
                        assertEquals(0, (t.byteOffset() - flat.byteOffset()) % MemoryArena.ALIGN, at + ": " + e.getKey() + " not aligned");
                        for (var o : bufs.entrySet())
                            if (o != e && overlap(t, o.getValue())) fail(at + ": " + e.getKey() + " overlaps " + o.getKey());
                    }
                    Set<String> layerA = union(LAYER, Set.of("stream")), layerB = union(LAYER, Set.of("streamNext"));
                    checkRun(at + " entryZero", g.entryZero(), bufs, ENTRY);
                    checkRun(at + " layerZero(stream)", g.layerZero(g.stream()), bufs, layerA);
                    checkRun(at + " layerZero(streamNext)", g.layerZero(g.streamNext()), bufs, layerB);
                    assertThrows(IllegalArgumentException.class, () -> g.layerZero(g.x0()));
                }
            }
        }
    }

    private static void checkRun(String what, Tensor run, Map<String, Tensor> bufs, Set<String> covered) {
        for (var e : bufs.entrySet()) {
            Tensor t = e.getValue();
            if (covered.contains(e.getKey()))
                assertTrue(t.byteOffset() >= run.byteOffset() && end(t) <= end(run), what + " does not cover " + e.getKey());
            else assertFalse(overlap(run, t), what + " overlaps " + e.getKey() + ", which it must not zero");
        }
    }

    private static Map<String, Tensor> buffers(Gradients g) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("stream", g.stream()); m.put("streamNext", g.streamNext()); m.put("x0", g.x0()); m.put("skip", g.skip());
        m.put("backout", g.backout()); m.put("headX", g.headX()); m.put("headNorm", g.headNorm()); m.put("smeared", g.smeared());
        m.put("lookup", g.lookup()); m.put("attnNorm", g.attnNorm()); m.put("qkvIn", g.qkvIn()); m.put("projIn", g.projIn());
        m.put("gated", g.gated()); m.put("attended", g.attended()); m.put("q", g.q()); m.put("k", g.k()); m.put("v", g.v());
        m.put("qProj", g.qProj()); m.put("kProj", g.kProj()); m.put("mlpNorm", g.mlpNorm()); m.put("act", g.act()); m.put("fc", g.fc());
        return m;
    }

    private static Set<String> union(Set<String> a, Set<String> b) {
        var s = new java.util.HashSet<>(a);
        s.addAll(b);
        return s;
    }

    private static long end(Tensor t) { return t.byteOffset() + t.byteSize(); }

    private static boolean overlap(Tensor a, Tensor b) { return a.byteOffset() < end(b) && b.byteOffset() < end(a); }
}
