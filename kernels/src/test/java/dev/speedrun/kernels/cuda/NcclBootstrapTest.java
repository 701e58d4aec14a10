package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The NCCL id exchange over loopback TCP, as several torchrun-style processes (threads here). */
class NcclBootstrapTest {
    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) { return s.getLocalPort(); }
    }

    @Test void everyRankReceivesTheIdOfRankZero() throws Exception {
        int world = 4, port = freePort();
        byte[] id = new byte[Nccl.UNIQUE_ID_BYTES];
        new Random(7).nextBytes(id);
        AtomicInteger made = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(world);
        try {
            List<Future<byte[]>> got = new ArrayList<>();
            for (int r = world - 1; r >= 0; r--) {   // clients first: they must wait for the server
                NcclBootstrap b = NcclBootstrap.fromEnv(Map.of("MASTER_ADDR", "127.0.0.1", "MASTER_PORT", "" + port,
                        "RANK", "" + r, "WORLD_SIZE", "" + world));
                got.add(pool.submit(() -> b.exchange(() -> { made.incrementAndGet(); return id.clone(); })));
            }
            for (Future<byte[]> f : got) assertArrayEquals(id, f.get(30, TimeUnit.SECONDS));
            assertEquals(1, made.get(), "only rank 0 makes the id");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test void singleProcessNeedsNoNetwork() {
        NcclBootstrap b = NcclBootstrap.fromEnv(Map.of());
        assertEquals(1, b.worldSize());
        assertArrayEquals(new byte[] {1, 2}, b.exchange(() -> new byte[] {1, 2}));
    }

    @Test void badSettingsAreNamed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> NcclBootstrap.fromEnv(Map.of("WORLD_SIZE", "2", "RANK", "2", "MASTER_ADDR", "h")));
        assertTrue(e.getMessage().contains("RANK"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NcclBootstrap.fromEnv(Map.of("WORLD_SIZE", "two")));
        assertTrue(e.getMessage().contains("WORLD_SIZE") && e.getMessage().contains("two"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NcclBootstrap.fromEnv(Map.of("WORLD_SIZE", "2", "RANK", "1")));
        assertTrue(e.getMessage().contains("MASTER_ADDR"), e.getMessage());
    }

    @Test void aClientWithoutServerTimesOutNamingTheMaster() throws IOException {
        int port = freePort();
        NcclBootstrap b = new NcclBootstrap("127.0.0.1", port, 1, 2, Duration.ofMillis(600));
        UncheckedIOException e = assertThrows(UncheckedIOException.class, () -> b.exchange(() -> new byte[1]));
        assertTrue(e.getMessage().contains("MASTER_PORT=" + port) && e.getMessage().contains("RANK 1"), e.getMessage());
    }
}
