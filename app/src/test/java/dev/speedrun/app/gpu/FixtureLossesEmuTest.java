package dev.speedrun.app.gpu;

import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.cuda.CudaOps;
import dev.speedrun.kernels.cuda.emu.EmuBackend;
import dev.speedrun.kernels.cuda.emu.EmuDevice;
import dev.speedrun.model.Precision;
import org.junit.jupiter.api.Test;

/**
 * The tiny fixture model's six results on the emulated CUDA device (the very kernels and
 * CudaOps on the CPU): F32 within 1e-5 relative (the emulated kernels compute in F32 as on a GPU,
 * in IEEE arithmetic), the record's mixed precision within 2e-2 (BF16 activations), and F32 once
 * more with every block's threads in a shuffled order (a missing barrier would show here).
 */
class FixtureLossesEmuTest extends FixtureLossesGpuTest {
    @Override Ops ops() { return GpuModelSupport.emuOrSkip(); }

    @Override double tolerance() { return 1e-5; }

    @Test void sixLossesInMixedPrecision() { sixLosses(ops(), Precision.MIXED, 2e-2, "mixed"); }

    @Test void sixLossesWithShuffledThreads() {
        GpuModelSupport.emuOrSkip();
        Ops shuffled = new CudaOps(new EmuDevice(new EmuBackend(), EmuDevice.Options.DEFAULT.withOrder(EmuDevice.Order.SHUFFLED, 17)));
        sixLosses(shuffled, Precision.uniform(dev.speedrun.tensor.DType.F32), 1e-5, "F32, shuffled threads");
    }
}
