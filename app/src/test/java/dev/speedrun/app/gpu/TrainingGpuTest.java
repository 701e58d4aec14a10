package dev.speedrun.app.gpu;

import dev.speedrun.app.MixedPrecisionTrainingTest;
import dev.speedrun.app.TrainingCurve;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.Precision;
import dev.speedrun.tensor.DType;
import java.util.Arrays;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * 20 training steps (NorMuon + Adam, docs/optim.md) of the cpu-small model: GPU F32 against CPU F32,
 * and GPU in the
 * record's mixed precision (the record's dtypes: BF16 gradients and state for the BF16 parameters, BF16 Polar Express) and on the CPU in F32, from the same
 * initial values on the same batches: the curves agree by {@link MixedPrecisionTrainingTest#assertAgree}
 * (step 0 ≤ 1e-2, mean ≤ 5e-2, last four ≤ 8e-2, both learn ≥ 10%), the criteria CPU mixed meets
 * against CPU F32 with room to spare (2e-2 / 3e-2 measured), since the GPU mixed path differs from
 * the CPU mixed one only by summation order.
 */
@Tag("gpu")
@Timeout(value = 240, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class TrainingGpuTest {
    static final int STEPS = 20, T = 128;

    /** The ops under test: the GPU's here, the emulated device's in {@link TrainingEmuTest}. */
    Ops ops() { return GpuModelSupport.cudaOrSkip(); }

    /** The loss per step of the device under test and of CPU F32, from the same initial values on the same batches. */
    record Curves(double[] device, double[] cpuF32) {}

    /**
     * {@link #STEPS} steps of {@code cfg} on {@code device} in {@code precision} (optimizer state in
     * each parameter's dtype) and on the CPU in F32; prints both curves under {@code label}.
     */
    static Curves curves(Ops device, String label, GptConfig cfg, Precision precision) {
        double[] got = TrainingCurve.run(device, precision, cfg, T, STEPS, 7);
        double[] cpuF32 = TrainingCurve.run(Kernels.cpu(), Precision.uniform(DType.F32), cfg, T, STEPS, 7);
        System.out.printf("[gpu] training curve %-15s %s%n[gpu] training curve %-15s %s%n",
                label + ":", Arrays.toString(got), "CPU F32:", Arrays.toString(cpuF32));
        return new Curves(got, cpuF32);
    }

    @Test void mixedOnGpuFollowsF32OnCpu() {
        Curves c = curves(ops(), "GPU mixed", GptConfig.preset("cpu-small"), Precision.MIXED);
        MixedPrecisionTrainingTest.assertAgree(c.cpuF32(), c.device(), "CPU F32", "GPU mixed");
    }

    /**
     * The same 20 steps in F32 on both: the backends differ only in summation order (~1e-7 per
     * op), which the first step shows directly (≤ 1e-4 relative); training amplifies it slowly,
     * so every later step stays within 2e-2 relative, far below the step-to-step loss changes.
     */
    @Test void f32OnGpuFollowsF32OnCpu() {
        Curves c = curves(ops(), "GPU F32", GptConfig.preset("cpu-small"), Precision.uniform(DType.F32));
        double[] gpuF32 = c.device(), cpuF32 = c.cpuF32();
        for (int i = 0; i < STEPS; i++) {
            double rel = Math.abs(gpuF32[i] - cpuF32[i]) / Math.abs(cpuF32[i]);
            org.junit.jupiter.api.Assertions.assertTrue(Double.isFinite(gpuF32[i]) && rel <= (i == 0 ? 1e-4 : 2e-2),
                    "step " + i + ": GPU F32 " + gpuF32[i] + " vs CPU F32 " + cpuF32[i] + " (relative " + rel + ")");
        }
    }
}
