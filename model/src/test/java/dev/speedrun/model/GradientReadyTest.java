package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.TinyModelFixture;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The gradient-ready hook ({@link GradientListener}) on the tiny fixture model, tied and split, in
 * one dtype and in the record's mixed precision with the FP8 LM head: every
 * parameter is announced once per backward, no op touches a gradient after its announcement (a
 * recording {@link Ops} wrapper sees every tensor each op gets; the backward reads parameter
 * gradients only where it accumulates into them, so any touch counts as a write), the
 * announcements come layer by layer while the backward runs, and the gradients are those of a
 * backward without a listener, bit for bit.
 */
class GradientReadyTest {
    /** One op call and the tensors it got, or one announcement. */
    private record Event(String op, List<Tensor> tensors, Parameter ready) {}

    @ParameterizedTest(name = "split={0} mixed={1}")
    @CsvSource({"false, false", "true, false", "false, true", "true, true"})
    void everyGradientIsAnnouncedOnceAfterItsLastWrite(boolean split, boolean mixed) {
        TinyModelFixture fx = TinyModelFixture.read();
        GptConfig cfg = TestSupport.config(fx.config());
        Ops cpu = Kernels.cpu();
        List<Event> events = new ArrayList<>();
        Ops recording = (Ops) Proxy.newProxyInstance(Ops.class.getClassLoader(), new Class<?>[] {Ops.class}, (proxy, m, args) -> {
            List<Tensor> ts = new ArrayList<>();
            if (args != null)
                for (Object a : args) {
                    if (a instanceof Tensor t) ts.add(t);
                    if (a instanceof Tensor[] arr) for (Tensor t : arr) if (t != null) ts.add(t);
                }
            if (!ts.isEmpty()) events.add(new Event(m.getName(), ts, null));
            try {
                return m.invoke(cpu, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        });
        int T = fx.tokens().length;
        // mixed: the record's dtypes with the FP8 LM head (its own gradient GEMM), else one dtype
        try (Gpt gpt = mixed ? new Gpt(cfg, recording, Precision.MIXED, LmHeadFp8.ON, T, T, 1, 0) : new Gpt(cfg, recording, DType.F64, T, 1, 0)) {
            assertEquals(mixed, gpt.fp8Head(), "the FP8 head runs in the mixed case");
            Checkpoints.load(gpt, fx.weights());
            gpt.setSplitEmbed(split);
            double[] mtp = fx.results().getFirst().mtpWeights();
            // without a listener: the reference gradients
            gpt.zeroGrads();
            gpt.forwardBackward(fx.tokens(), fx.targets(), fx.cuSeqlens(), fx.windowShort(), fx.windowLong(), TestSupport.LOSS, mtp, 1.0);
            Map<String, double[]> want = new HashMap<>();
            for (Parameter p : gpt.parameters()) want.put(p.name(), HostData.toDoubles(p.grad()));

            gpt.zeroGrads();
            events.clear();
            gpt.setGradientListener(p -> events.add(new Event("ready", List.of(), p)));
            gpt.forwardBackward(fx.tokens(), fx.targets(), fx.cuSeqlens(), fx.windowShort(), fx.windowLong(), TestSupport.LOSS, mtp, 1.0);
            gpt.setGradientListener(null);
            for (Parameter p : gpt.parameters())
                assertArrayEquals(want.get(p.name()), HostData.toDoubles(p.grad()), p.name() + ": the listener changed the gradient");

            Map<Parameter, Integer> readyAt = new HashMap<>();
            for (int k = 0; k < events.size(); k++) {
                Parameter p = events.get(k).ready();
                if (p != null) assertNull(readyAt.put(p, k), p.name() + " announced twice");
            }
            assertEquals(gpt.parameters().size(), readyAt.size(), "every parameter announced: " + readyAt.keySet());
            for (var e : readyAt.entrySet()) {
                Tensor g = e.getKey().grad();
                for (int k = e.getValue() + 1; k < events.size(); k++)
                    for (Tensor t : events.get(k).tensors())
                        assertFalse(overlaps(t, g), e.getKey().name() + ": op " + events.get(k).op() + " (#" + k + ") touches its gradient after its ready call");
            }
            // while the backward runs: each layer's matrices are announced before any op touches the gradients of the layer below
            Parameter lastCProj = gpt.parameters().stream().filter(p -> p.name().equals("blocks." + (cfg.numLayers() - 1) + ".mlp.c_proj")).findFirst().orElseThrow();
            for (int i = cfg.numLayers() - 1; i > 0; i--) {
                int below = firstTouch(events, param(gpt, "blocks." + (i - 1) + ".mlp.c_proj").grad());
                for (String n : List.of("mlp.c_proj", "mlp.c_fc", "attn.qkvo_w")) {
                    if (n.startsWith("attn") && !cfg.hasAttention(i)) continue;
                    Parameter p = param(gpt, "blocks." + i + "." + n);
                    assertTrue(readyAt.get(p) < below, p.name() + " announced at #" + readyAt.get(p) + ", after layer " + (i - 1) + "'s backward began (#" + below + ")");
                }
            }
            assertTrue(readyAt.get(lastCProj) < events.size() / 2, "the last layer's c_proj is announced in the first half of the step's ops");
        }
    }

    private static Parameter param(Gpt gpt, String name) {
        return gpt.parameters().stream().filter(p -> p.name().equals(name)).findFirst().orElseThrow();
    }

    private static int firstTouch(List<Event> events, Tensor g) {
        for (int k = 0; k < events.size(); k++) for (Tensor t : events.get(k).tensors()) if (overlaps(t, g)) return k;
        throw new AssertionError("no op touches " + g);
    }

    /** Whether two tensors share bytes (same storage, intersecting byte ranges). */
    private static boolean overlaps(Tensor a, Tensor b) {
        return a.sameStorage(b) && a.byteOffset() < b.byteOffset() + b.byteSize() && b.byteOffset() < a.byteOffset() + a.byteSize();
    }
}
