package dev.speedrun.kernels.cuda.emu;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.tensor.OutOfDeviceMemoryException;
import dev.speedrun.tensor.Storage;
import org.junit.jupiter.api.Test;

/** The emulated device's memory cap: what fits is allocated, what does not is an out-of-memory naming the sizes; frees give it back. */
class EmuMemoryCapTest {
    @Test void allocationsPastTheCapFailWithTheSizes() {
        EmuBackend be = new EmuBackend();
        long base = EmuBackend.usedBytes(), unit = 1 << 16;
        long old = EmuBackend.setMemoryCap(base + 3 * unit);
        try {
            Storage a = be.allocate(2 * unit);
            var e = assertThrows(OutOfDeviceMemoryException.class, () -> be.allocate(2 * unit));
            assertEquals(2 * unit, e.requested());
            assertEquals(unit, e.free());
            assertEquals(base + 3 * unit, e.total());
            assertTrue(e.getMessage().contains(String.valueOf(2 * unit)) && e.getMessage().contains(String.valueOf(unit))
                    && e.getMessage().contains(EmuBackend.CAP_PROPERTY), e.getMessage());
            assertEquals(base + 2 * unit, EmuBackend.usedBytes(), "a failed allocation takes nothing");
            be.free(a);
            Storage b = be.allocate(3 * unit);   // freed memory is free again
            be.free(b);
            assertEquals(base, EmuBackend.usedBytes());
        } finally {
            EmuBackend.setMemoryCap(old);
        }
    }

    @Test void theCapPropertyTakesSuffixes() {
        assertEquals(0, EmuBackend.parseCap(null));
        assertEquals(5L << 20, EmuBackend.parseCap("5m"));
        assertEquals(2L << 30, EmuBackend.parseCap("2G"));
        assertEquals(4096, EmuBackend.parseCap("4096"));
        var e = assertThrows(IllegalArgumentException.class, () -> EmuBackend.parseCap("lots"));
        assertTrue(e.getMessage().contains(EmuBackend.CAP_PROPERTY) && e.getMessage().contains("lots"), e.getMessage());
    }
}
