package dev.speedrun.kernels.cuda;

import dev.speedrun.kernels.cuda.emu.EmuDevice;
import org.junit.jupiter.api.Test;

/**
 * {@link AttentionTensorCoreGpuTest} on the emulated CUDA device (the same attention.cu compiled by
 * g++, mma.sync and ldmatrix emulated with the PTX fragment layouts), strict barriers; and once more
 * with the threads of every block started and woken in reversed and in shuffled order, where a
 * missing __syncthreads around the shared tiles would read a tile another warp has not yet written.
 */
class AttentionTensorCoreEmuTest extends AttentionTensorCoreGpuTest {
    @Override GpuTestSupport open(long seed) { return GpuTestSupport.openEmu(seed, EmuDevice.Options.DEFAULT); }

    @Test void otherThreadOrders() {
        AttentionTensorCoreGpuTest.Case c = tileCases().get(1);
        for (EmuDevice.Order order : new EmuDevice.Order[] {EmuDevice.Order.REVERSED, EmuDevice.Order.SHUFFLED})
            try (GpuTestSupport s = GpuTestSupport.openEmu(15, EmuDevice.Options.DEFAULT.withOrder(order, 7))) {
                runCase(s, new Case(c.name() + ", " + order, c.H(), c.D(), c.cu(), c.window(), c.scale(), c.io()));
            }
    }
}
