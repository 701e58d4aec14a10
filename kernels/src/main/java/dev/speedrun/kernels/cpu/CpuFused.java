package dev.speedrun.kernels.cpu;

import dev.speedrun.kernels.OpContract;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The fused family of {@link CpuOps} (fused.cu on the GPU): ops that a GPU runs as one kernel to
 * save launches and memory round trips, each defined as a fixed sequence of unfused ops with the
 * intermediate results stored in the activation dtype. On the CPU a launch costs nothing, so each
 * runs exactly that sequence through the unfused family code (including their Vector API paths):
 * the fused op is then bit for bit the composition by construction, and it stays the reference
 * the CUDA kernels are tested against.
 */
final class CpuFused {
    private CpuFused() {}

    static void mixRmsNorm(Tensor out, Tensor norm, Tensor rrms, Tensor x, Tensor a, double ca, Tensor y, Tensor b, double cb) {
        OpContract.mixRmsNorm(out, norm, rrms, x, a, y, b);
        CpuElementwise.mix(out, x, a, ca, y, b, cb);
        CpuNorms.rmsNorm(norm, rrms, out);
    }

    static void rmsNormRotary(Tensor out, Tensor rrms, Tensor x, Tensor freqs, boolean keyShift) {
        OpContract.Thd s = OpContract.rmsNormRotary(out, rrms, x, freqs, keyShift);
        long rows = (long) s.T() * s.H();
        CpuNorms.rmsNorm(out.reshape(rows, s.D()), rrms, x.reshape(rows, s.D()));
        CpuRotary.rotary(out, out, freqs);
        if (keyShift) shiftInPlace(out, s.T(), s.H(), s.D());
    }

    /**
     * {@link CpuRotary#keyShift} with out = x: the shifted dims of row p take row p−1's, walking p
     * downwards so each row is read before it is overwritten (copies: exact in any dtype).
     */
    private static void shiftInPlace(Tensor t, int T, int H, int D) {
        MemorySegment s = t.segment();
        DType d = t.dtype();
        long HD = (long) H * D;
        for (int p = T - 1; p >= 1; p--)
            for (int h = 0; h < H; h++) {
                long row = p * HD + (long) h * D;
                for (int j = D / 4; j < D / 2; j++) Acc.set(s, d, row + j, Acc.get(s, d, row + j - HD));
                for (int j = 3 * D / 4; j < D; j++) Acc.set(s, d, row + j, Acc.get(s, d, row + j - HD));
            }
    }
}
