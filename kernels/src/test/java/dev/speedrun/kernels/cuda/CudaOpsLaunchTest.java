package dev.speedrun.kernels.cuda;

import static dev.speedrun.tensor.DType.BF16;
import static dev.speedrun.tensor.DType.F32;
import static dev.speedrun.tensor.DType.I32;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.cuda.FakeDevice.Launch;
import dev.speedrun.kernels.cuda.Kernel.Ptr;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * Every op of {@link CudaOps} on a {@link FakeDevice}: the launches each op makes, with argument
 * kinds, pointers and dtype codes validated against the kernel table (so against the .cu sources),
 * and the sizes the kernels receive. Runs without a GPU.
 */
class CudaOpsLaunchTest {
    static final int T = 37, H = 3, D = 64, C = 40, G = 12, V = 131, S = 5;

    /** Runs every op with activations of {@code act} and returns op name -> kernels launched. */
    /**
     * The loss kernel's multi-token weights go through one device buffer of the ops, uploaded only
     * when they change: the launch's parameters stay the same from step to step (a CUDA graph of
     * the micro-step can replay) while the kernel still sees each call's weights.
     */
    @Test void mtpWeightsReachTheLossKernelThroughOneBufferUploadedOnChange() {
        FakeDevice dev = new FakeDevice(null);
        CudaOps ops = new CudaOps(dev);
        Tensor logits = dev.tensor(F32, T, V), losses = dev.tensor(F32, T), targets = dev.tensor(I32, T);
        double[][] calls = {{1, 0.5, 0.25}, {1, 0.5, 0.25}, {1, 0.4, 0.1}, {1, 0.4}};
        int[] uploadsAfter = new int[calls.length];
        List<Object> pointers = new ArrayList<>();
        for (int c = 0; c < calls.length; c++) {
            ops.softcapCrossEntropy(losses, logits, logits, targets, null, calls[c], 30, 7.5, 1);
            Launch ce = dev.launches.get(dev.launches.size() - 1);
            assertEquals(calls[c].length, ce.arg("K"));
            pointers.add(ce.arg("mw"));
            float[] w = dev.uploadedFloats((Kernel.Ptr) ce.arg("mw"));
            assertEquals(CudaOps.MTP_MAX, w.length);
            for (int j = 0; j < CudaOps.MTP_MAX; j++)
                assertEquals(j < calls[c].length ? (float) calls[c][j] : 0f, w[j], "call " + c + " weight " + j);
            uploadsAfter[c] = dev.uploadCount;
        }
        assertEquals(1, new java.util.HashSet<>(pointers).size(), "one buffer: " + pointers);
        assertArrayEquals(new int[] {1, 1, 2, 3}, uploadsAfter, "an upload only when the weights change");
    }

    static Map<String, List<Launch>> runAll(FakeDevice dev, DType act) {
        CudaOps ops = new CudaOps(dev);
        Map<String, List<Launch>> byOp = new LinkedHashMap<>();
        Map<String, Runnable> calls = new LinkedHashMap<>();
        Tensor x = dev.tensor(act, T, C), y = dev.tensor(act, T, C), out = dev.tensor(act, T, C), dx = dev.tensor(act, T, C);
        Tensor s1 = dev.tensor(F32, 1), s2 = dev.tensor(F32, 1);
        Tensor tokens = dev.tensor(I32, T);
        Tensor q = dev.tensor(act, T, H, D), k = dev.tensor(act, T, H, D), v = dev.tensor(act, T, H, D);
        Tensor o = dev.tensor(act, T, H, D), dq = dev.tensor(act, T, H, D), dk = dev.tensor(act, T, H, D), dv = dev.tensor(act, T, H, D);
        Tensor lse = dev.tensor(F32, H, T), cu = dev.tensor(I32, S), freqs = dev.tensor(F32, D / 2);
        Tensor rrms = dev.tensor(F32, T), gateH = dev.tensor(F32, T, H), gateS = dev.tensor(F32, T);
        Tensor wH = dev.tensor(BF16, H, G), dwH = dev.tensor(F32, H, G), wS = dev.tensor(BF16, G), dwS = dev.tensor(F32, G);
        Tensor table = dev.tensor(BF16, V, C), dTable = dev.tensor(F32, V, C);
        Tensor logits = dev.tensor(act, T, V), losses = dev.tensor(F32, T), tw = dev.tensor(F32, T);
        Tensor p = dev.tensor(F32, 7, 9), g = dev.tensor(F32, 7, 9), m = dev.tensor(BF16, 7, 9), vv = dev.tensor(BF16, 7, 9);
        Tensor batch = dev.tensor(act, 4, 6, 10), s2state = dev.tensor(F32, 4, 6);
        Tensor a2 = dev.tensor(act, T, C), b2 = dev.tensor(act, C, 24), c2 = dev.tensor(F32, T, 24);

        calls.put("fill", () -> ops.fill(out, 3));
        calls.put("convert", () -> ops.convert(dev.tensor(F32, T, C), x));
        calls.put("add", () -> ops.add(out, x, y));
        calls.put("mix", () -> ops.mix(out, x, s1, 0.5, y, null, 2));
        calls.put("mixBackward", () -> ops.mixBackward(dx, dx, s1, null, out, x, s1, 0.5, y, null, 2));
        calls.put("sigmoid", () -> ops.sigmoid(out, x));
        calls.put("sigmoidBackward", () -> ops.sigmoidBackward(dx, out, y));
        calls.put("reluSquared", () -> ops.reluSquared(out, x));
        calls.put("reluSquaredBackward", () -> ops.reluSquaredBackward(dx, out, x));
        calls.put("sum", () -> ops.sum(s1, x, false));
        calls.put("sumSquares", () -> ops.sumSquares(s2, x, true));
        calls.put("tokenMask", () -> ops.tokenMask(gateS, tokens, 50256, 0, 1));
        calls.put("matmul", () -> ops.matmul(c2, a2, b2, false, false, 1, 0));
        calls.put("quantizeFp8", () -> ops.quantizeFp8(dev.tensor(DType.FP8_E5M2, T, C), x, s1));
        // the LM head's dW: out [V, C] += gᵀ·x with g [T, V] transposed; no cuBLASLt here, so the kernel GEMM runs
        calls.put("matmulFp8", () -> ops.matmulFp8(dev.tensor(F32, V, C), logits, DType.FP8_E5M2, s1, x, DType.FP8_E4M3, s2,
                true, false, 1));
        calls.put("embedding", () -> ops.embedding(out, table, tokens));
        calls.put("embeddingBackward", () -> ops.embeddingBackward(dTable, dx, tokens));
        calls.put("rmsNorm", () -> ops.rmsNorm(out, rrms, x));
        calls.put("rmsNormBackward", () -> ops.rmsNormBackward(dx, out, x, rrms));
        calls.put("rotary", () -> ops.rotary(q, q, freqs));
        calls.put("rotaryBackward", () -> ops.rotaryBackward(dq, o, freqs));
        calls.put("keyShift", () -> ops.keyShift(o, k));
        calls.put("keyShiftBackward", () -> ops.keyShiftBackward(dk, o));
        calls.put("mixRmsNorm", () -> ops.mixRmsNorm(out, dx, rrms, null, out, s1, 0.5, y, null, 2, null));
        calls.put("rmsNormRotary", () -> ops.rmsNormRotary(o, gateH, k, freqs, true));
        calls.put("addEmbedding", () -> ops.addEmbedding(out, out, table, tokens));
        calls.put("headGateScaled", () -> ops.headGateScaled(o, gateH, dq, v, x, wH, s1));
        calls.put("rmsNormRotaryBackward", () -> ops.rmsNormRotaryBackward(dk, o, k, gateH, freqs, false));
        calls.put("attention", () -> ops.attention(o, lse, q, k, v, cu, 128, 0.12));
        calls.put("attentionBackward", () -> ops.attentionBackward(dq, dk, dv, o, q, k, v, o, lse, cu, 128, 0.12));
        calls.put("headGate", () -> ops.headGate(o, gateH, v, x, wH));
        calls.put("headGateBackward", () -> ops.headGateBackward(dv, dx, dwH, o, v, x, wH, gateH));
        calls.put("smear", () -> ops.smear(out, gateS, x, wS, s1));
        calls.put("smearBackward", () -> ops.smearBackward(dx, dwS, s2, out, x, wS, s1, gateS));
        calls.put("softcapCrossEntropy", () -> ops.softcapCrossEntropy(losses, logits, logits, tokens, tw, new double[] {1, 0.5, 0.25}, 30, 7.5, 0.5));
        calls.put("adamStep", () -> ops.adamStep(p, g, m, vv, 0.008, 0.65, 0.95, 1e-8, 3, 0.01, DecayMask.GT));
        calls.put("muonMomentum", () -> ops.muonMomentum(g, p, g, 0.95));
        calls.put("frobeniusNormalize", () -> ops.frobeniusNormalize(batch, batch, 1.02, 1e-6));
        calls.put("varianceReduce", () -> ops.varianceReduce(batch, s2state, 0.95));
        calls.put("decayedUpdate", () -> ops.decayedUpdate(p, g, 0.02, 0.001, DecayMask.GE));
        for (var e : calls.entrySet()) {
            int before = dev.launches.size();
            e.getValue().run();
            byOp.put(e.getKey(), new ArrayList<>(dev.launches.subList(before, dev.launches.size())));
        }
        return byOp;
    }

    static List<Kernel> kernels(List<Launch> ls) { return ls.stream().map(Launch::kernel).toList(); }

    @Test void everyOpOfTheContractLaunchesValidKernelsF32() { checkAll(F32); }

    @Test void everyOpOfTheContractLaunchesValidKernelsBf16() { checkAll(BF16); }

    private void checkAll(DType act) {
        FakeDevice dev = new FakeDevice(null);
        Map<String, List<Launch>> byOp = runAll(dev, act);
        Set<String> contract = new TreeSet<>();
        for (Method m : Ops.class.getMethods()) if (m.getReturnType() == void.class) contract.add(m.getName());   // the ops, not the queries
        assertEquals(contract, new TreeSet<>(byOp.keySet()), "every op of the contract is exercised");
        for (var e : byOp.entrySet()) assertTrue(!e.getValue().isEmpty(), e.getKey() + " launched nothing");

        assertEquals(List.of(Kernel.FILL), kernels(byOp.get("fill")));
        assertEquals((long) T * C, byOp.get("fill").get(0).arg("n"));
        // dx, dy and da's partial sums in one pass, then the finish (db is null here)
        assertEquals(List.of(Kernel.MIX_BACKWARD_PARTIAL, Kernel.MIX_BACKWARD_FINISH), kernels(byOp.get("mixBackward")));
        Launch mbp = byOp.get("mixBackward").get(0), mbf = byOp.get("mixBackward").get(1);
        assertEquals(mbp.grid().x(), mbf.arg("parts"), "finish adds exactly the partials written");
        assertTrue(((Ptr) mbf.arg("db")).address() == 0, "no db: not written");
        assertEquals(mbp.grid().x(), mbp.arg("parts"));
        assertEquals(mbp.arg("partials"), mbf.arg("partials"));
        assertTrue(((Ptr) mbp.arg("y")).address() == 0, "no db: y's sum is not computed");
        Launch fin = byOp.get("sumSquares").get(1);
        assertEquals(1, fin.arg("accumulate"));
        assertEquals(byOp.get("sumSquares").get(0).grid().x(), fin.arg("nparts"), "finish adds exactly the partials written");
        assertEquals(1, byOp.get("sumSquares").get(0).arg("mode"));
        assertEquals(List.of(Kernel.MATMUL_TILED), kernels(byOp.get("matmul")), "no cuBLASLt: the kernel GEMM runs");
        Launch gm = byOp.get("matmul").get(0);
        assertEquals(T, gm.arg("M"));
        assertEquals(24, gm.arg("N"));
        assertEquals(C, gm.arg("K"));
        assertEquals(new CudaDevice.Dim3((24 + 15) / 16, (T + 15) / 16, 1), gm.grid());

        assertEquals(List.of(Kernel.QUANTIZE_FP8), kernels(byOp.get("quantizeFp8")));
        Launch qz = byOp.get("quantizeFp8").get(0);
        assertEquals(List.of(1L, (long) T * C, (long) T * C, 0), List.of(qz.arg("rows"), qz.arg("cols"), qz.arg("pitch"), qz.arg("transpose")));
        assertEquals(1, qz.arg("fmt"), "E5M2 is format 1");
        assertEquals(List.of(Kernel.QUANTIZE_FP8, Kernel.QUANTIZE_FP8, Kernel.MATMUL_FP8), kernels(byOp.get("matmulFp8")));
        Launch qa = byOp.get("matmulFp8").get(0), qb = byOp.get("matmulFp8").get(1), mf = byOp.get("matmulFp8").get(2);
        long kp = (T + 15) / 16 * 16;   // K = T tokens, zero-padded to a multiple of 16 for the FP8 GEMM
        assertEquals(List.of((long) V, (long) T, kp, 1), List.of(qa.arg("rows"), qa.arg("cols"), qa.arg("pitch"), qa.arg("transpose")),
                "a = gᵀ packed as [V, Kp] from g [T, V]");
        assertEquals(List.of((long) C, (long) T, kp, 1), List.of(qb.arg("rows"), qb.arg("cols"), qb.arg("pitch"), qb.arg("transpose")),
                "b = x packed as [C, Kp] (op(b)ᵀ) from x [T, C]");
        assertEquals(List.of(V, C, (int) kp, 1f), List.of(mf.arg("M"), mf.arg("N"), mf.arg("K"), mf.arg("beta")));
        assertEquals(qa.arg("out"), mf.arg("a"), "the GEMM reads the packed operands");
        assertEquals(qb.arg("out"), mf.arg("b"));
        assertEquals(List.of(1, 0), List.of(mf.arg("afmt"), mf.arg("bfmt")));

        Launch rn = byOp.get("rmsNorm").get(0);
        assertEquals((float) act.epsilon(), rn.arg("eps"), "eps is the machine epsilon of out's dtype");
        assertEquals(CudaOps.warpGrid(T), rn.grid().x());

        // BF16 q, k, v (D a multiple of 8, aligned): the tensor-core kernels, 64 rows per block of
        // 4 warps; F32: the scalar kernels, 8 rows per block of 8 warps.
        boolean mma = act == BF16;
        Launch att = byOp.get("attention").get(0);
        assertEquals(mma ? Kernel.ATTENTION_MMA : Kernel.ATTENTION, att.kernel());
        assertEquals(mma ? new CudaDevice.Dim3((T + 63) / 64, H, 1) : new CudaDevice.Dim3((T + 7) / 8, H, 1), att.grid());
        assertEquals(mma ? 128 : 256, att.block().x());
        assertEquals(List.of(T, H, D, S, 128), List.of(att.arg("T"), att.arg("H"), att.arg("D"), att.arg("S"), att.arg("window")));
        assertEquals(mma ? List.of(Kernel.ATTENTION_BACKWARD_DELTA, Kernel.ATTENTION_BACKWARD_DQ_MMA, Kernel.ATTENTION_BACKWARD_DKV_MMA)
                        : List.of(Kernel.ATTENTION_BACKWARD_DELTA, Kernel.ATTENTION_BACKWARD_DQ, Kernel.ATTENTION_BACKWARD_DKV),
                kernels(byOp.get("attentionBackward")));
        Launch dkv = byOp.get("attentionBackward").get(2);
        Launch delta = byOp.get("attentionBackward").get(0);
        assertEquals(delta.arg("delta"), dkv.arg("delta"), "dk/dv read the delta the first kernel wrote");

        Launch rot = byOp.get("rotaryBackward").get(0);
        assertEquals(-1f, rot.arg("sign"));
        assertEquals(1, rot.arg("accumulate"));
        assertEquals(0, byOp.get("rotary").get(0).arg("accumulate"));

        // the fused ops: one launch each, one warp per row (of C; of D per head), eps of the normalised output's dtype
        assertEquals(List.of(Kernel.MIX_RMS_NORM), kernels(byOp.get("mixRmsNorm")));
        Launch mrn = byOp.get("mixRmsNorm").get(0);
        assertEquals(List.of(T, C, CudaOps.warpGrid(T)), List.of(mrn.arg("R"), mrn.arg("C"), mrn.grid().x()));
        assertEquals((float) act.epsilon(), mrn.arg("eps"));
        assertEquals(0.5f, mrn.arg("ca"));
        assertTrue(((Ptr) mrn.arg("b")).address() == 0, "a null coefficient tensor is a null pointer");
        assertEquals(List.of(Kernel.RMS_NORM_ROTARY), kernels(byOp.get("rmsNormRotary")));
        Launch nr = byOp.get("rmsNormRotary").get(0);
        assertEquals(List.of(T, H, D, 1, CudaOps.warpGrid((long) T * H)),
                List.of(nr.arg("T"), nr.arg("H"), nr.arg("D"), nr.arg("shift"), nr.grid().x()));
        assertEquals((float) act.epsilon(), nr.arg("eps"));
        assertEquals(List.of(Kernel.RMS_NORM_ROTARY_BACKWARD), kernels(byOp.get("rmsNormRotaryBackward")));
        assertEquals(List.of(Kernel.ADD_EMBEDDING), kernels(byOp.get("addEmbedding")));
        assertEquals(List.of(Kernel.HEAD_GATE_SCALED), kernels(byOp.get("headGateScaled")));
        Launch hgs = byOp.get("headGateScaled").get(0);
        assertEquals(List.of(T, H, D, C, G), List.of(hgs.arg("T"), hgs.arg("H"), hgs.arg("D"), hgs.arg("C"), hgs.arg("G")));
        assertEquals(new CudaDevice.Dim3(CudaOps.gridFor((long) T * H * D), 1, 1), hgs.grid(), "a thread per element of y");
        Launch ae = byOp.get("addEmbedding").get(0);
        assertEquals(List.of(T, C, V), List.of(ae.arg("T"), ae.arg("C"), ae.arg("V")));
        Launch nrb = byOp.get("rmsNormRotaryBackward").get(0);
        assertEquals(List.of(T, H, D, 0, CudaOps.warpGrid((long) T * H)),
                List.of(nrb.arg("T"), nrb.arg("H"), nrb.arg("D"), nrb.arg("shift"), nrb.grid().x()));

        Launch ce = byOp.get("softcapCrossEntropy").get(0);
        assertEquals(3, ce.arg("K"));
        assertEquals(new CudaDevice.Dim3(T, 1, 1), ce.grid());
        float[] w = dev.uploadedFloats((Kernel.Ptr) ce.arg("mw"));
        assertEquals(0.25f, w[2]);
        assertEquals(0f, w[3]);

        Launch adam = byOp.get("adamStep").get(0);
        double expectScale = 0.008 * Math.sqrt(1 - Math.pow(0.95, 3)) / (1 - Math.pow(0.65, 3));
        assertEquals((float) expectScale, adam.arg("stepScale"));
        assertEquals(DecayMask.GT.ordinal(), adam.arg("mask"));

        assertEquals(List.of(Kernel.VARIANCE_REDUCE_ROWS, Kernel.VARIANCE_REDUCE_MATRIX, Kernel.VARIANCE_REDUCE_APPLY), kernels(byOp.get("varianceReduce")));
        assertEquals(4 * 6, byOp.get("varianceReduce").get(0).grid().x());
        assertEquals(List.of(Kernel.SMEAR_BACKWARD_DOT, Kernel.SMEAR_BACKWARD_DX, Kernel.SMEAR_BACKWARD_PARAMS), kernels(byOp.get("smearBackward")));
        assertEquals(G + 1, byOp.get("smearBackward").get(2).grid().x());
        assertEquals(H * G, byOp.get("headGateBackward").get(2).grid().x());
    }

    @Test void cublasLtIsUsedWhenItTakesTheGemm() {
        List<String> seen = new ArrayList<>();
        FakeDevice dev = new FakeDevice((out, a, b, ta, tb, alpha, beta) -> { seen.add(a.dtype() + "x" + b.dtype()); return a.dtype() == b.dtype(); });
        CudaOps ops = new CudaOps(dev);
        ops.matmul(dev.tensor(F32, 4, 5), dev.tensor(BF16, 4, 3), dev.tensor(BF16, 3, 5), false, false, 1, 0);
        assertEquals(0, dev.launches.size(), "cuBLASLt took it");
        ops.matmul(dev.tensor(F32, 4, 5), dev.tensor(BF16, 4, 3), dev.tensor(F32, 3, 5), false, false, 1, 0);
        assertEquals(List.of(Kernel.MATMUL_TILED), kernels(dev.launches), "mixed dtypes fall back to the kernel");
        assertEquals(List.of("BF16xBF16", "BF16xF32"), seen);
    }

    @Test void wrongInputsAreRejectedOnTheHostWithTheirNames() {
        FakeDevice dev = new FakeDevice(null);
        CudaOps ops = new CudaOps(dev);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ops.fill(dev.tensor(DType.F64, 3), 1));
        assertTrue(e.getMessage().contains("F64") && e.getMessage().contains("F32 or BF16"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ops.attention(dev.tensor(F32, 4, 1, 256), dev.tensor(F32, 1, 4), dev.tensor(F32, 4, 1, 256),
                        dev.tensor(F32, 4, 1, 256), dev.tensor(F32, 4, 1, 256), dev.tensor(I32, 2), 8, 1));
        assertTrue(e.getMessage().contains("256"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ops.matmul(dev.tensor(F32, 4, 5), dev.tensor(F32, 4, 3), dev.tensor(F32, 4, 5), false, false, 1, 0));
        assertTrue(e.getMessage().contains("do not fit"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> ops.softcapCrossEntropy(dev.tensor(F32, 2), null, dev.tensor(F32, 2, 8), dev.tensor(I32, 2), null,
                        new double[9], 30, 7.5, 1));
        assertTrue(e.getMessage().contains("1..8"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ops.rmsNorm(dev.tensor(F32, 2, 4), dev.tensor(BF16, 2), dev.tensor(F32, 2, 4)));
        assertTrue(e.getMessage().contains("rrms must be F32"), e.getMessage());
        Tensor cpuTensor = dev.tensor(F32, 3);
        FakeDevice other = new FakeDevice(null);
        e = assertThrows(IllegalArgumentException.class, () -> new CudaOps(other).fill(cpuTensor, 1));
        assertTrue(e.getMessage().contains("not on this CUDA device"), e.getMessage());
        assertEquals(0, ((Ptr) Kernel.Ptr.NULL).address());
    }
}
