package dev.speedrun.kernels.cpu;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;

/**
 * Whether the Vector API kernels of the op families ({@code ElementwiseVector},
 * {@code AttentionVector}, ...) may run. They need the incubator module ({@link CpuGemm#vectorized()});
 * {@code -Dspeedrun.ops.scalar=true} forces the scalar double path for comparison. This class never
 * touches {@code jdk.incubator.vector} itself, so the families load without the module.
 */
final class Vectors {
    private Vectors() {}

    static final boolean ENABLED = CpuGemm.vectorized() && !Boolean.getBoolean("speedrun.ops.scalar");

    /** Whether the F32 vector kernels apply: vectors available and every given tensor F32 (nulls skipped). */
    static boolean f32(Tensor... ts) {
        if (!ENABLED) return false;
        for (Tensor t : ts) if (t != null && t.dtype() != DType.F32) return false;
        return true;
    }
}
