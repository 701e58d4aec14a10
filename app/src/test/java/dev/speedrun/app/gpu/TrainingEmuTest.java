package dev.speedrun.app.gpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.app.MixedPrecisionTrainingTest;
import dev.speedrun.app.TrainingCurve;
import dev.speedrun.kernels.Ops;
import dev.speedrun.model.GptConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The 20 training steps of {@link TrainingGpuTest} in the record's mixed precision on the
 * emulated CUDA device (every kernel, cuBLASLt call and optimizer step of the CUDA path on the
 * CPU) against CPU F32, by the same agreement criteria as on a GPU.
 */
class TrainingEmuTest extends TrainingGpuTest {
    @Override Ops ops() { return GpuModelSupport.emuOrSkip(); }


    /**
     * The "tiny" preset: the emulator runs every CUDA thread as a fiber, so CI time needs a small
     * model (cpu-small takes minutes here). Same agreement criteria as on a GPU
     * ({@link MixedPrecisionTrainingTest#assertAgree}) except learning: the tiny model's 20 steps drop
     * the loss by ~9% (CPU F32 4.84 → 4.41), so both curves must drop by at least 5%.
     */
    @Override @Test @Timeout(value = 480, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void mixedOnGpuFollowsF32OnCpu() {
        var curves = TrainingCurve.mixedAgainstCpuF32(ops(), "cuda-emu", GptConfig.preset("tiny"), T, STEPS);
        double[] emuMixed = curves.mixed(), cpuF32 = curves.cpuF32();
        int n = STEPS;
        double meanRel = 0;
        for (int i = 0; i < n; i++) {
            assertTrue(Double.isFinite(emuMixed[i]), "step " + i + ": cuda-emu mixed " + emuMixed[i]);
            meanRel += Math.abs(emuMixed[i] - cpuF32[i]) / Math.abs(cpuF32[i]) / n;
        }
        double first = Math.abs(emuMixed[0] - cpuF32[0]) / cpuF32[0];
        assertTrue(first <= 1e-2, "step 0: cuda-emu mixed " + emuMixed[0] + " vs CPU F32 " + cpuF32[0]);
        assertTrue(meanRel <= 5e-2, "mean relative difference " + meanRel);
        double refTail = mean(cpuF32, n - 4, n), gotTail = mean(emuMixed, n - 4, n);
        assertTrue(Math.abs(gotTail - refTail) / refTail <= 8e-2, "last four steps: cuda-emu mixed " + gotTail + " vs CPU F32 " + refTail);
        assertTrue(refTail < 0.95 * mean(cpuF32, 0, 4), "CPU F32 did not learn");
        assertTrue(gotTail < 0.95 * mean(emuMixed, 0, 4), "cuda-emu mixed did not learn");
    }

    private static double mean(double[] x, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) s += x[i];
        return s / (to - from);
    }

    /** Not repeated here: F32 on the emulated device is covered by FixtureLossesEmuTest and DistributedTrainingTest. */
    @Override void f32OnGpuFollowsF32OnCpu() {}
}
