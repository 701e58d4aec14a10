package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.app.config.ConfigException;
import dev.speedrun.kernels.RankPlan;
import dev.speedrun.kernels.RankRequest;
import dev.speedrun.kernels.Ranks;
import dev.speedrun.testsupport.LaunchEnv;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Running the ranks of a plan; the run folder of a multi-node run. */
class RankRuntimeTest {
    @Test void rankZerosResultIsTheRunsAndAFailureWakesThePeers() {
        RankPlan plan = Ranks.plan(new RankRequest("cpu", 3, Map.of()));
        assertEquals("rank 0 of 3", RankRuntime.run(plan, rk -> "rank " + rk.rank() + " of " + rk.comm().worldSize()));
        var e = assertThrows(IllegalStateException.class, () -> RankRuntime.run(plan, rk -> {
            if (rk.rank() == 1) throw new IllegalStateException("rank 1 fails");
            rk.comm().barrier();   // waits for rank 1 until the failure aborts the collectives
            return null;
        }));
        assertEquals("rank 1 fails", e.getMessage());
    }

    @Test void multiNodeRunFolderIsNamedByTheSharedRunId() {
        Map<String, String> env = LaunchEnv.nodes(2, 1);
        var e = assertThrows(ConfigException.class, () -> TrainCommand.sharedRunFolder("runs", "configs/record-178.yaml", env));
        assertTrue(e.getMessage().contains(TrainCommand.RUN_ID_ENV), e.getMessage());
        env.put(TrainCommand.RUN_ID_ENV, "job 1");
        assertThrows(ConfigException.class, () -> TrainCommand.sharedRunFolder("runs", "configs/record-178.yaml", env));
        env.put(TrainCommand.RUN_ID_ENV, "4711");
        assertEquals(Path.of("runs", "record-178-4711"), TrainCommand.sharedRunFolder("runs", "configs/record-178.yaml", env));
    }
}
