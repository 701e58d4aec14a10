package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.kernels.RankPlan;
import dev.speedrun.kernels.RankRequest;
import dev.speedrun.kernels.Ranks;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** One rank of a multi-rank CPU run failing stops every rank within seconds, with that rank's error. */
class RankFailureTest {
    @Test void oneFailingRankStopsAllWithItsError() {
        int world = 3;
        RankPlan plan = Ranks.plan(new RankRequest("cpu", world, Map.of()));
        long t0 = System.nanoTime();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> RankRuntime.run(plan, rk -> {
                    try (MemoryArena a = rk.ops().backend().newArena()) {
                        var t = a.allocate(DType.F32, 4);
                        rk.comm().allReduce(t, dev.speedrun.kernels.Collectives.Reduce.SUM);
                        if (rk.rank() == world - 1) throw new IllegalStateException("rank " + rk.rank() + " broke");
                        // the others wait for a collective the failed rank never joins
                        while (true) rk.comm().allReduce(t, dev.speedrun.kernels.Collectives.Reduce.SUM);
                    }
                })));
        assertEquals("rank " + (world - 1) + " broke", e.getMessage(), "the failing rank's own error, not the aborted waits");
        assertTrue((System.nanoTime() - t0) / 1e9 < 10, "stopped within seconds");
    }
}
