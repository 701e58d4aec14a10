package dev.speedrun.kernels.cuda;

import static dev.speedrun.kernels.cuda.GpuTestSupport.check;
import static dev.speedrun.kernels.cuda.GpuTestSupport.rtol;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.cuda.GpuTestSupport.Pair;
import dev.speedrun.kernels.cuda.emu.EmuDevice;
import dev.speedrun.kernels.cuda.emu.EmuLibrary;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * The unchanged {@link CublasLtGemm} over the emulated device's cuBLASLt reference: when the
 * heuristic has no algorithm (CUBLAS_STATUS_NOT_SUPPORTED) CudaOps falls back to the kernel GEMM;
 * FP8 with E5M2 gradients; FP8 refused below compute capability 8.9.
 */
class EmuCublasLtTest {
    @Test void noAlgorithmFallsBackToTheKernelGemm() {
        try (GpuTestSupport s = GpuTestSupport.openEmu(21, EmuDevice.Options.DEFAULT)) {
            assertTrue(s.device().gemm() instanceof CublasLtGemm, "the emulated device brings cuBLASLt");
            EmuLibrary lib = ((dev.speedrun.kernels.cuda.emu.EmuDevice) s.device()).library();
            lib.setCublasLtRefuseAll(true);
            try {
                Pair a = s.input(DType.BF16, 1, 24, 40), b = s.input(DType.BF16, 1, 40, 16), out = s.output(DType.F32, 24, 16);
                s.both((o, g) -> o.matmul(out.of(g), a.of(g), b.of(g), false, false, 1, 0));
                check("matmul with no cuBLASLt algorithm", out, rtol(DType.BF16, true));
            } finally {
                lib.setCublasLtRefuseAll(false);
            }
        }
    }

    @Test void fp8WithE5M2GradientsAndTheComputeCapabilityCheck() {
        try (GpuTestSupport s = GpuTestSupport.openEmu(22, EmuDevice.Options.DEFAULT)) {
            int M = 32, N = 48, K = 64;
            Pair g = s.input(DType.BF16, 1, M, K), w = s.input(DType.BF16, 0.05, N, K), ref = s.output(DType.F32, M, N);
            s.cpu.matmul(ref.cpu(), g.cpu(), w.cpu(), false, true, 1, 0);
            CudaOps ops = (CudaOps) s.gpu;
            Tensor gq = s.gpuArena.allocate(DType.FP8_E5M2, M, K), wq = s.gpuArena.allocate(DType.FP8_E4M3, N, K);
            Pair one = s.pair(DType.F32, DType.F32, new double[] {1}, 1), wi = s.pair(DType.F32, DType.F32, new double[] {0.05}, 1);
            ops.quantizeFp8(gq, g.gpu(), one.gpu());
            ops.quantizeFp8(wq, w.gpu(), wi.gpu());   // w / 0.05, dequantised by the same factor
            assertTrue(((CublasLtGemm) s.device().gemm()).matmulFp8(ref.gpu(), gq, one.gpu(), wq, wi.gpu(), 1, 0), "cuBLASLt took the FP8 GEMM");
            double[] c = HostData.toDoubles(ref.cpu()), d = HostData.toDoubles(ref.gpu());
            double num = 0, den = 0;
            for (int i = 0; i < c.length; i++) {
                assertTrue(Double.isFinite(d[i]), "non-finite FP8 result at " + i);
                num += (d[i] - c[i]) * (d[i] - c[i]);
                den += c[i] * c[i];
            }
            assertTrue(Math.sqrt(num / den) < 0.15, "E5M2·E4M3 relative error " + Math.sqrt(num / den));
        }
        try (GpuTestSupport s = GpuTestSupport.openEmu(23, EmuDevice.Options.DEFAULT.withComputeCapability(80))) {
            Tensor a = s.gpuArena.allocate(DType.FP8_E4M3, 16, 16), b = s.gpuArena.allocate(DType.FP8_E4M3, 16, 16);
            Tensor one = s.gpuArena.allocate(DType.F32, 1), out = s.gpuArena.allocate(DType.F32, 16, 16);
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> ((CublasLtGemm) s.device().gemm()).matmulFp8(out, a, one, b, one, 1, 0));
            assertTrue(e.getMessage().contains("8.9"), e.getMessage());
        }
    }
}
