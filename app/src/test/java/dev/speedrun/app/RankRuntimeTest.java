package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.app.config.ConfigException;
import dev.speedrun.kernels.cuda.NativeLibraries;
import dev.speedrun.kernels.cuda.Nccl;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The placement of ranks per backend, with a fake machine (no GPU needed). */
class RankRuntimeTest {
    /** A machine with {@code gpus} GPUs, the given CUDA and NCCL problems ("" = fine) and environment. */
    record FakeMachine(int gpus, String cudaProblem, String ncclProblem, Map<String, String> env) implements RankRuntime.Machine {
        @Override public int gpuCount() { return gpus; }
    }

    static FakeMachine gpus(int n) { return new FakeMachine(n, "", "", Map.of()); }

    static Map<String, String> nodes(int nodes, int rank) {
        Map<String, String> env = new HashMap<>();
        env.put("WORLD_SIZE", String.valueOf(nodes));
        env.put("RANK", String.valueOf(rank));
        env.put("MASTER_ADDR", "node0");
        env.put("MASTER_PORT", "29511");
        return env;
    }

    @Test void cpuRanksAreThreadsOfThisProcessWhateverTheGpusOrLaunchVariables() {
        // a CPU run ignores GPUs, NCCL and multi-node variables entirely
        var m = new FakeMachine(0, "no NVIDIA driver", "no NCCL", nodes(2, 1));
        RankRuntime.Plan p = RankRuntime.plan("cpu", 4, m);
        assertEquals(4, p.localRanks());
        assertEquals(1, p.processes());
        assertEquals(0, p.firstRank());
        assertTrue(p.lead());
        assertFalse(p.nccl());
        assertFalse(p.cuda());
        assertEquals(List.of(), p.devices());
        assertEquals("", p.note());
    }

    @Test void cpuOpenGivesInProcessRanksWithCpuOps() {
        try (RankRuntime rt = RankRuntime.open(RankRuntime.plan("cpu", 3, gpus(0)), Map.of())) {
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

    @Test void cudaOnOneNodeUsesOneGpuPerRankWithNccl() {
        RankRuntime.Plan p = RankRuntime.plan("cuda", 8, gpus(8));
        assertTrue(p.cuda());
        assertTrue(p.nccl());
        assertEquals(1, p.processes());
        assertEquals(8, p.localRanks());
        assertEquals(IntStream.range(0, 8).boxed().toList(), p.devices());
        assertTrue(p.lead());
    }

    @Test void severalGpusPerProcessRecommendEagerModuleLoading() {
        assertTrue(RankRuntime.plan("cuda", 2, gpus(2)).note().contains("CUDA_MODULE_LOADING=EAGER"));
        assertEquals("", RankRuntime.plan("cuda", 2, new FakeMachine(2, "", "", Map.of("CUDA_MODULE_LOADING", "EAGER"))).note());
        assertEquals("", RankRuntime.plan("cuda", 1, gpus(2)).note());
    }

    @Test void cudaWithFewerRanksThanGpusUsesTheFirstOnes() {
        assertEquals(List.of(0, 1), RankRuntime.plan("cuda", 2, gpus(8)).devices());
    }

    @Test void cudaMultiNodeRunsThisNodesSliceOfTheGlobalRanks() {
        RankRuntime.Plan p = RankRuntime.plan("cuda", 16, new FakeMachine(8, "", "", nodes(2, 1)));
        assertEquals(2, p.processes());
        assertEquals(1, p.processRank());
        assertEquals(8, p.localRanks());
        assertEquals(8, p.firstRank());
        assertFalse(p.lead());
        assertEquals(IntStream.range(0, 8).boxed().toList(), p.devices());
        assertTrue(RankRuntime.plan("cuda", 16, new FakeMachine(8, "", "", nodes(2, 0))).lead());
    }

    @Test void unavailableCudaSaysWhyAndThatCpuWorks() {
        var e = assertThrows(ConfigException.class,
                () -> RankRuntime.plan("cuda", 1, new FakeMachine(0, "no NVIDIA driver: libcuda.so.1 could not be loaded", "", Map.of())));
        assertTrue(e.getMessage().contains("no NVIDIA driver: libcuda.so.1"), e.getMessage());
        assertTrue(e.getMessage().contains("--backend cpu"), e.getMessage());
    }

    @Test void moreRanksThanVisibleGpusIsRejectedNamingBoth() {
        var m = new FakeMachine(2, "", "", Map.of("CUDA_VISIBLE_DEVICES", "3,5"));
        var e = assertThrows(ConfigException.class, () -> RankRuntime.plan("cuda", 4, m));
        assertTrue(e.getMessage().contains("world_size 4 needs 4 GPUs"), e.getMessage());
        assertTrue(e.getMessage().contains("only 2 are visible"), e.getMessage());
        assertTrue(e.getMessage().contains("CUDA_VISIBLE_DEVICES=3,5"), e.getMessage());
        assertTrue(e.getMessage().contains("--world-size 2"), e.getMessage());
    }

    @Test void multiNodeNeedsEnoughGpusPerNode() {
        var e = assertThrows(ConfigException.class, () -> RankRuntime.plan("cuda", 16, new FakeMachine(4, "", "", nodes(2, 0))));
        assertTrue(e.getMessage().contains("needs 8 GPUs per process"), e.getMessage());
        assertTrue(e.getMessage().contains("--world-size 8"), e.getMessage());
    }

    @Test void worldSizeMustSplitEvenlyOverTheNodes() {
        var e = assertThrows(ConfigException.class, () -> RankRuntime.plan("cuda", 3, new FakeMachine(8, "", "", nodes(2, 0))));
        assertTrue(e.getMessage().contains("world_size 3 is not a multiple of WORLD_SIZE=2"), e.getMessage());
    }

    @Test void badLaunchVariablesAreNamed() {
        Map<String, String> env = nodes(2, 0);
        env.remove("MASTER_ADDR");
        var e = assertThrows(ConfigException.class, () -> RankRuntime.plan("cuda", 2, new FakeMachine(8, "", "", env)));
        assertTrue(e.getMessage().contains("MASTER_ADDR"), e.getMessage());
        Map<String, String> env2 = nodes(2, 2);
        var e2 = assertThrows(ConfigException.class, () -> RankRuntime.plan("cuda", 2, new FakeMachine(8, "", "", env2)));
        assertTrue(e2.getMessage().contains("RANK"), e2.getMessage());
    }

    @Test void missingNcclListsThePlacesTriedAndTheAlternatives(@TempDir Path empty) {
        // the real loader's message for a folder without libnccl.so.2
        String problem = assertThrows(NativeLibraries.NotFound.class,
                () -> NativeLibraries.load("NCCL", Nccl.SONAMES, List.of(empty), false)).getMessage();
        var e = assertThrows(ConfigException.class, () -> RankRuntime.plan("cuda", 2, new FakeMachine(2, "", problem, Map.of())));
        assertTrue(e.getMessage().contains(empty.resolve("libnccl.so.2").toString()), e.getMessage());
        assertTrue(e.getMessage().contains("needs NCCL"), e.getMessage());
        assertTrue(e.getMessage().contains("--backend cpu"), e.getMessage());
        assertTrue(e.getMessage().contains(NativeLibraries.ENV), e.getMessage());
    }

    @Test void oneGpuRunsWithoutNcclAndSaysSo() {
        RankRuntime.Plan p = RankRuntime.plan("cuda", 1, new FakeMachine(1, "", "could not load NCCL", Map.of()));
        assertFalse(p.nccl());
        assertEquals(List.of(0), p.devices());
        assertTrue(p.note().contains("NCCL not found"), p.note());
        assertTrue(RankRuntime.plan("cuda", 1, gpus(1)).nccl(), "with NCCL present one GPU uses it (on-stream collectives)");
    }

    @Test void worldSizeBelowOneIsRejected() {
        assertThrows(ConfigException.class, () -> RankRuntime.plan("cpu", 0, gpus(0)));
    }

    @Test void multiNodeRunFolderIsNamedByTheSharedRunId() {
        Map<String, String> env = nodes(2, 1);
        var e = assertThrows(ConfigException.class, () -> TrainCommand.sharedRunFolder("runs", "configs/record-178.yaml", env));
        assertTrue(e.getMessage().contains(TrainCommand.RUN_ID_ENV), e.getMessage());
        env.put(TrainCommand.RUN_ID_ENV, "job 1");
        assertThrows(ConfigException.class, () -> TrainCommand.sharedRunFolder("runs", "configs/record-178.yaml", env));
        env.put(TrainCommand.RUN_ID_ENV, "4711");
        assertEquals(Path.of("runs", "record-178-4711"), TrainCommand.sharedRunFolder("runs", "configs/record-178.yaml", env));
    }
}
