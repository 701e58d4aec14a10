package dev.speedrun.kernels;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.testsupport.LaunchEnv;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Rank providers found by backend name; the host-thread placement (the cuda one: CudaRanksTest). */
class RanksTest {
    @Test void cpuRanksAreThreadsOfThisProcessWhateverTheGpusOrLaunchVariables() {
        // a CPU run ignores GPUs, NCCL and multi-node variables entirely
        RankPlan p = Ranks.plan(new RankRequest("cpu", 4, LaunchEnv.nodes(2, 1)));
        assertEquals(4, p.localRanks());
        assertEquals(1, p.processes());
        assertEquals(0, p.firstRank());
        assertTrue(p.lead());
        assertFalse(p.deviceCollectives());
        assertEquals("cpu", p.backend());
        assertEquals(List.of(), p.devices());
        assertEquals("", p.note());
    }

    @Test void cpuOpenGivesInProcessRanksWithCpuOps() {
        try (LocalRanks rt = Ranks.open(Ranks.plan(new RankRequest("cpu", 3, Map.of())))) {
            assertEquals(3, rt.ranks().size());
            for (int r = 0; r < 3; r++) {
                var rk = rt.ranks().get(r);
                assertEquals(r, rk.rank());
                assertEquals(r, rk.comm().rank());
                assertEquals(3, rk.comm().worldSize());
                assertEquals("cpu", rk.ops().backend().name());
            }
        }
    }

    @Test void worldSizeBelowOneIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> Ranks.plan(new RankRequest("cpu", 0, Map.of())));
    }

    @Test void anUnknownBackendIsAnErrorListingTheValidOnes() {
        var e = assertThrows(IllegalArgumentException.class, () -> Ranks.plan(new RankRequest("tpu", 1, Map.of())));
        assertTrue(e.getMessage().contains("'tpu'") && e.getMessage().contains("cpu") && e.getMessage().contains("cuda"), e.getMessage());
    }
}
