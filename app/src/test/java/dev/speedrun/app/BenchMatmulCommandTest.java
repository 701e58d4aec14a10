package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BenchMatmulCommandTest {
    @Test void printsOneGflopsLinePerRun() {
        for (String dt : new String[] {"f32", "f64"}) {
            String s = CliRun.expect(0, "bench", "matmul", "--size", "48", "--dtype", dt, "--iters", "3", "--warmup", "1");
            assertTrue(s.matches("(?s)matmul cpu " + dt + " N=48: [0-9.]+ ms, [0-9.]+ GFLOP/s \\(median of 3.*"), s);
        }
    }

    @Test void rejectsUnsupportedDtypeAndBackend() {
        assertTrue(CliRun.expect(1, "bench", "matmul", "--size", "8", "--dtype", "bf16").contains("--dtype must be f32 or f64"));
        assertTrue(CliRun.expect(1, "bench", "matmul", "--size", "8", "--backend", "nosuch").contains("nosuch"));
    }
}
