package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Gpu;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Timings of the heaviest ops at the record's per-GPU sizes (CUDA events, median of 10 after 3
 * warm-ups), printed as "[gpu] bench ..." lines for docs/gpu-results.md. A measurement, not a
 * pass/fail criterion: it only fails when an op produces non-finite values.
 */
@Tag("gpu")
@org.junit.jupiter.api.Timeout(value = 180, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
class CudaBenchGpuTest {
    @Test void heaviestOpsAtRecordSizes() {
        Gpu.usableOrSkip(CudaBackend.NAME);
        CudaBackend b = new CudaBackend();
        JCudaDevice dev = b.device();
        Ops ops = new CudaOps(dev);
        int T = 16384, H = 6, D = 128, C = 768, V = 50304, window = 13 * 128;
        try (MemoryArena a = b.newArena()) {
            Tensor x = a.allocate(DType.BF16, T, C), w = a.allocate(DType.BF16, 4 * C, C), y = a.allocate(DType.BF16, T, 4 * C);
            ops.fill(x, 0.01);
            ops.fill(w, 0.02);
            double ms = dev.timeMillis(() -> ops.matmul(y, x, w, false, true, 1, 0), 3, 10);
            report("matmul BF16 [" + T + "," + C + "]·[" + 4 * C + "," + C + "]ᵀ", ms, 2.0 * T * C * 4 * C);
            Tensor q = a.allocate(DType.BF16, T, H, D), k = a.allocate(DType.BF16, T, H, D), v = a.allocate(DType.BF16, T, H, D);
            Tensor o = a.allocate(DType.BF16, T, H, D), lse = a.allocate(DType.F32, H, T), cu = a.allocate(DType.I32, 10);
            int[] cuv = new int[10];
            for (int i = 0; i < 10; i++) cuv[i] = Math.min(T, i * 2048);
            HostData.write(cu, cuv);
            ops.fill(q, 0.1);
            ops.fill(k, 0.1);
            ops.fill(v, 0.1);
            ms = dev.timeMillis(() -> ops.attention(o, lse, q, k, v, cu, window, 0.12), 3, 10);
            double attFlops = 4.0 * T * Math.min(window + 1, 2048) * H * D * 0.75; // ~ keys per query on average
            report("attention fwd T=" + T + " window=" + window + " (≈FLOP)", ms, attFlops);
            Tensor dq = a.allocate(DType.BF16, T, H, D), dk = a.allocate(DType.BF16, T, H, D), dv = a.allocate(DType.BF16, T, H, D);
            ms = dev.timeMillis(() -> ops.attentionBackward(dq, dk, dv, o, q, k, v, o, lse, cu, window, 0.12), 3, 10);
            report("attention bwd T=" + T + " window=" + window, ms, 2.5 * attFlops);
            int Tl = 8192;
            Tensor logits = a.allocate(DType.BF16, Tl, V), losses = a.allocate(DType.F32, Tl), tg = a.allocate(DType.I32, Tl);
            ops.fill(logits, 0.5);
            ms = dev.timeMillis(() -> ops.softcapCrossEntropy(losses, logits, logits, tg, null, new double[] {1, 0.5, 0.25}, 30, 7.5, 1), 3, 10);
            report("softcap CE + grad [" + Tl + "," + V + "] (in place)", ms, 0);
            Tensor xr = a.allocate(DType.BF16, T, C), rr = a.allocate(DType.F32, T);
            ms = dev.timeMillis(() -> ops.rmsNorm(xr, rr, x), 3, 10);
            report("rmsNorm [" + T + "," + C + "]", ms, 0);
            double[] l = HostData.toDoubles(losses);
            for (double d : l) assertTrue(Double.isFinite(d), "non-finite loss in the benchmark");
            double[] out = HostData.toDoubles(o.view(0, 1024));
            for (double d : out) assertTrue(Double.isFinite(d), "non-finite attention output in the benchmark");
        }
    }

    private static void report(String what, double ms, double flops) {
        System.out.printf("[gpu] bench %-48s %9.3f ms%s%n", what, ms, flops > 0 ? String.format("  %7.1f TFLOP/s", flops / ms / 1e9) : "");
    }
}
