package dev.speedrun.kernels.cuda;

import static dev.speedrun.tensor.DType.F32;
import static dev.speedrun.tensor.DType.I32;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.OpContract;
import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.Backends;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Shape;
import dev.speedrun.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;

/**
 * {@link OpContract} is the one checker of both backends: a call that breaks the contract fails
 * with the same message on the CPU backend and on CUDA (a {@link FakeDevice}, so no GPU is needed).
 */
class OpContractBothBackendsTest {
    interface Alloc { Tensor t(DType d, long... dims); }

    static final int T = 6, H = 2, D = 8, C = 12, G = 4, V = 10;

    /** Contract-breaking calls, by the op they break. */
    static Map<String, BiConsumer<Ops, Alloc>> badCalls() {
        Map<String, BiConsumer<Ops, Alloc>> calls = new LinkedHashMap<>();
        calls.put("add", (o, a) -> o.add(a.t(F32, T), a.t(F32, T), a.t(F32, T + 1)));
        calls.put("mixBackward", (o, a) -> o.mixBackward(null, null, a.t(F32, 1), null, a.t(F32, T), a.t(F32, T), null, 1, null, null, 0));
        calls.put("matmul", (o, a) -> o.matmul(a.t(F32, 4, 5), a.t(F32, 4, 3), a.t(F32, 4, 5), false, false, 1, 0));
        calls.put("embedding", (o, a) -> o.embedding(a.t(F32, T, C + 1), a.t(F32, V, C), a.t(I32, T)));
        calls.put("rmsNorm", (o, a) -> o.rmsNorm(a.t(F32, T, C), a.t(F32, T - 1), a.t(F32, T, C)));
        calls.put("rotary", (o, a) -> o.rotary(a.t(F32, T, H, D), a.t(F32, T, H, D), a.t(F32, D)));
        calls.put("keyShift", (o, a) -> o.keyShift(a.t(F32, T, H, 6), a.t(F32, T, H, 6)));
        calls.put("mixRmsNorm", (o, a) -> o.mixRmsNorm(a.t(F32, T, C), a.t(F32, T, C), a.t(F32, T + 1), null, a.t(F32, T, C), null, 1,
                a.t(F32, T, C), null, 1, null));
        calls.put("rmsNormRotary", (o, a) -> o.rmsNormRotary(a.t(F32, T, H, 6), a.t(F32, T * H), a.t(F32, T, H, 6), a.t(F32, 3), true));
        calls.put("headGateScaled", (o, a) -> o.headGateScaled(a.t(F32, T, H, D), a.t(F32, T, H), a.t(F32, T, H, D + 1), a.t(F32, T, H, D),
                a.t(F32, T, C), a.t(F32, H, G), null));
        calls.put("addEmbedding", (o, a) -> o.addEmbedding(a.t(F32, T, C), a.t(F32, T, C + 1), a.t(F32, V, C), a.t(I32, T)));
        calls.put("rmsNormRotaryBackward", (o, a) -> o.rmsNormRotaryBackward(a.t(F32, T, H, D), a.t(F32, T, H, D), a.t(F32, T, H, D),
                a.t(F32, T * H), a.t(F32, D), false));
        calls.put("attention", (o, a) -> o.attention(a.t(F32, T, H, D), a.t(F32, T, H), a.t(F32, T, H, D), a.t(F32, T, H, D),
                a.t(F32, T, H, D), a.t(I32, 2), 4, 0.3));
        calls.put("headGate", (o, a) -> o.headGate(a.t(F32, T, H, D), a.t(F32, T, H), a.t(F32, T, H, D), a.t(F32, T, C), a.t(F32, H + 1, G)));
        calls.put("smearBackward", (o, a) -> o.smearBackward(a.t(F32, T, C), a.t(F32, G + 1), a.t(F32, 1), a.t(F32, T, C), a.t(F32, T, C),
                a.t(F32, G), a.t(F32, 1), a.t(F32, T)));
        calls.put("softcapCrossEntropy", (o, a) -> o.softcapCrossEntropy(a.t(F32, T), a.t(F32, T, V + 1), a.t(F32, T, V), a.t(I32, T), null,
                new double[] {1}, 30, 7.5, 1));
        calls.put("adamStep", (o, a) -> o.adamStep(a.t(F32, T), a.t(F32, T), a.t(F32, T), a.t(F32, T), 0.01, 0.9, 0.95, 1e-8, 0, 0, DecayMask.GT));
        calls.put("varianceReduce", (o, a) -> o.varianceReduce(a.t(F32, 3, 4, 5), a.t(F32, 3), 0.95));
        return calls;
    }

    @Test void aBrokenContractGivesTheSameMessageOnBothBackends() {
        FakeDevice dev = new FakeDevice(null);
        Ops cuda = new CudaOps(dev), cpu = Kernels.cpu();
        Alloc onGpu = dev::tensor;
        Alloc onCpu = (d, dims) -> {
            Shape s = Shape.of(dims);
            return new Tensor(Backends.cpu().allocate(Math.max(1, s.numel() * d.byteSize())), d, 0, s);
        };
        for (var e : badCalls().entrySet()) {
            String gpuMsg = assertThrows(IllegalArgumentException.class, () -> e.getValue().accept(cuda, onGpu), e.getKey()).getMessage();
            String cpuMsg = assertThrows(IllegalArgumentException.class, () -> e.getValue().accept(cpu, onCpu), e.getKey()).getMessage();
            assertEquals(cpuMsg, gpuMsg, e.getKey());
            assertTrue(gpuMsg.startsWith(e.getKey()), e.getKey() + ": the message names the op: " + gpuMsg);
        }
        assertEquals(0, dev.launches.size(), "nothing was launched for a rejected call");
    }

    @Test void zeroColumnsAreNoRowsOnBothBackends() {
        FakeDevice dev = new FakeDevice(null);
        new CudaOps(dev).rmsNorm(dev.tensor(F32, 3, 0), dev.tensor(F32, 0), dev.tensor(F32, 3, 0));
        assertEquals(0, dev.launches.size());
        Tensor x = new Tensor(Backends.cpu().allocate(4), F32, 0, Shape.of(3, 0)), rrms = new Tensor(Backends.cpu().allocate(4), F32, 0, Shape.of(0));
        Kernels.cpu().rmsNorm(x, rrms, x);
        assertEquals(new OpContract.Rows(0, 0), OpContract.rmsNorm(x, rrms, x));
    }
}
