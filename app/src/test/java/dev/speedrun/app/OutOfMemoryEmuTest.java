package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.speedrun.kernels.cuda.emu.EmuBackend;
import dev.speedrun.tensor.Backends;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A run that does not fit the (capped) emulated GPU: the error names what was allocated, the sizes, and what to change. */
class OutOfMemoryEmuTest {
    @TempDir Path tmp;

    @Test void outOfDeviceMemoryNamesTheAllocationTheSizesAndAHint() throws Exception {
        assumeTrue(Backends.get(EmuBackend.NAME).isAvailable(), "cuda-emu is not built here: " + Backends.get(EmuBackend.NAME).unavailableReason());
        Path config = TinyRunConfig.write(tmp, 1, 0);
        TrainCommand c = TinyRunConfig.command(config, tmp.resolve("runs"), null, 1);
        c.backend = EmuBackend.NAME;
        // 1 MiB more than is in use now: the embedding tables of a 50257-token vocabulary alone need more
        long cap = EmuBackend.usedBytes() + (1 << 20);
        long old = EmuBackend.setMemoryCap(cap);
        IllegalStateException e;
        try {
            e = assertThrows(IllegalStateException.class, c::call);
        } finally {
            EmuBackend.setMemoryCap(old);
        }
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        for (String part : new String[] {"out of memory on cuda-emu", "asked", "free of", "the model", "tokens per micro-batch",
                "micro_batches", "world_size"})
            assertTrue(m.contains(part), part + " in: " + m);
    }
}
