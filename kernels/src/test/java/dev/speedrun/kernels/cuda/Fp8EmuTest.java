package dev.speedrun.kernels.cuda;

import static dev.speedrun.kernels.cuda.GpuTestSupport.check;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.cuda.GpuTestSupport.Pair;
import dev.speedrun.kernels.cuda.emu.EmuDevice;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Fixtures;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/**
 * The FP8 LM head's ops on a CUDA device against the CPU ops (which {@code CpuFp8Test} checks
 * against a float64 reference): the quantisation byte for byte, and the head's three products
 * (forward, dx, dW) at the tiny model fixture's sizes (T tokens, not a multiple of 16, so dW's K is
 * zero-padded). {@link CudaOpsGpuTest} runs both checks on a GPU and {@link CudaOpsEmuTest} on the
 * emulated device at compute capability 9.0 (the emulated cuBLASLt FP8 GEMM); here the emulated
 * device at 8.0, where cuBLASLt has no FP8 and the matmul_fp8 kernel computes the products.
 */
class Fp8EmuTest {
    static final double XS = 100.0 / 448, WS = 1.5 / 448, GS = 0.75 / 448;
    /**
     * CPU and GPU accumulate the same FP8 values in F32 in different orders: F32 outputs agree to
     * ~K·2^-24 of the row's magnitude, BF16 outputs to one BF16 rounding (2^-8) more.
     */
    static final double RTOL_F32 = 1e-5, RTOL_BF16 = 8e-3;

    static byte[] bytes(Tensor t) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(Math.max(1, t.byteSize()));
            t.backend().copyToHost(host, t);
            return host.asSlice(0, t.byteSize()).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** The quantisation on the device under test byte for byte against the CPU's (run on a GPU by {@link CudaOpsGpuTest}). */
    static void quantisationIsBitIdenticalToTheCpu(GpuTestSupport s) {
        int n = 3000;
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = (s.rnd.nextBoolean() ? 1 : -1) * Math.pow(2, -30 + 50 * s.rnd.nextDouble());
        v[0] = Double.NaN; v[1] = Double.POSITIVE_INFINITY; v[2] = -0.0; v[3] = 464 * XS;   // NaN, saturation, signed zero, a tie
        for (DType xd : new DType[] {DType.F32, DType.BF16})
            for (DType f : new DType[] {DType.FP8_E4M3, DType.FP8_E5M2})
                for (double sc : new double[] {XS, GS}) {
                    Pair x = s.pair(xd, xd, v, n), scale = s.pair(DType.F32, DType.F32, new double[] {sc}, 1);
                    Tensor qc = s.cpuArena.allocate(f, n), qg = s.gpuArena.allocate(f, n);
                    s.cpu.quantizeFp8(qc, x.cpu(), scale.cpu());
                    s.gpu.quantizeFp8(qg, x.gpu(), scale.gpu());
                    assertArrayEquals(bytes(qc), bytes(qg), xd + " → " + f + " at scale " + sc);
                }
    }

    @Test void theLmHeadProductsMatchTheCpuThroughTheKernelBelowSm89() {
        try (GpuTestSupport s = GpuTestSupport.openEmu(42, EmuDevice.Options.DEFAULT.withComputeCapability(80))) {
            assertTrue(s.gpu.fp8Unavailable().orElseThrow().contains("8.0"), "the reason names the compute capability");
            lmHeadProductsMatchTheCpu(s);
        }
    }

    /**
     * The LM head's three FP8 products on the device under test against the CPU's; through cuBLASLt
     * where {@code fp8Unavailable()} is empty, else through matmul_fp8 (run at 9.0 by
     * {@link CudaOpsEmuTest} and on a GPU by {@link CudaOpsGpuTest}, at 8.0 above).
     */
    static void lmHeadProductsMatchTheCpu(GpuTestSupport s) {
        JsonNode fx = Fixtures.json("model_tiny.json");
        int T = Fixtures.ints(fx.get("tokens")).length, C = fx.get("config").get("model_dim").asInt(),
                V = fx.get("config").get("vocab_padded").asInt();
        CudaDevice dev = s.device();
        int cc = dev.computeCapability();
        assertEquals(cc >= 89 && dev.gemm() != null, s.gpu.fp8Unavailable().isEmpty(), "FP8 GEMMs: " + s.gpu.fp8Unavailable());
        Pair x = s.input(DType.BF16, 1, T, C), w = s.input(DType.BF16, 0.02, V, C), g = s.input(DType.BF16, 1e-2, T, V);
        Pair xs = s.pair(DType.F32, DType.F32, new double[] {XS}, 1), ws = s.pair(DType.F32, DType.F32, new double[] {WS}, 1),
                gs = s.pair(DType.F32, DType.F32, new double[] {GS}, 1);
        Pair logits = s.output(DType.BF16, T, V), dx = s.output(DType.BF16, T, C), dw = s.input(DType.F32, 1e-3, V, C);
        s.both((o, gpu) -> {
            o.matmulFp8(logits.of(gpu), x.of(gpu), DType.FP8_E4M3, xs.of(gpu), w.of(gpu), DType.FP8_E4M3, ws.of(gpu), false, true, 0);
            o.matmulFp8(dx.of(gpu), g.of(gpu), DType.FP8_E5M2, gs.of(gpu), w.of(gpu), DType.FP8_E4M3, ws.of(gpu), false, false, 0);
            o.matmulFp8(dw.of(gpu), g.of(gpu), DType.FP8_E5M2, gs.of(gpu), x.of(gpu), DType.FP8_E4M3, xs.of(gpu), true, false, 1);
        });
        check("FP8 forward logits (sm_" + cc + ")", logits, RTOL_BF16);
        check("FP8 dx (sm_" + cc + ")", dx, RTOL_BF16);
        check("FP8 dW accumulated (sm_" + cc + ")", dw, RTOL_F32);
        // the comparison can fail: the unquantised product is farther from the CPU's FP8 result than the tolerance
        Pair plain = s.output(DType.BF16, T, V);
        s.cpu.matmul(plain.cpu(), x.cpu(), w.cpu(), false, true, 1, 0);
        double[] q = HostData.toDoubles(logits.cpu()), p = HostData.toDoubles(plain.cpu());
        double worst = 0, ss = 0;
        for (double e : q) ss += e * e;
        double rms = Math.sqrt(ss / q.length);
        for (int i = 0; i < q.length; i++) worst = Math.max(worst, Math.abs(q[i] - p[i]) / (Math.abs(q[i]) + rms));
        assertTrue(worst > 4 * RTOL_BF16, "FP8 and BF16 logits differ by only " + worst);
    }
}
