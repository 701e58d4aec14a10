package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.kernels.RankPlan;
import dev.speedrun.kernels.RankRequest;
import dev.speedrun.testsupport.LaunchEnv;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The placement of cuda ranks, with a fake machine (no GPU needed). */
class CudaRanksTest {
    /** A machine with {@code gpus} GPUs, the given CUDA and NCCL problems ("" = fine) and environment. */
    record FakeMachine(int gpus, String cudaProblem, String ncclProblem, Map<String, String> env) implements CudaRanks.Machine {
        @Override public int gpuCount() { return gpus; }
    }

    static FakeMachine gpus(int n) { return new FakeMachine(n, "", "", Map.of()); }

    /** The cuda plan of {@code worldSize} ranks on machine {@code m} with its environment. */
    static RankPlan plan(int worldSize, FakeMachine m) {
        return new CudaRanks(m).plan(new RankRequest("cuda", worldSize, m.env()));
    }

    @Test void cudaOnOneNodeUsesOneGpuPerRankWithNccl() {
        RankPlan p = plan(8, gpus(8));
        assertEquals("cuda", p.backend());
        assertTrue(p.deviceCollectives());
        assertEquals(1, p.processes());
        assertEquals(8, p.localRanks());
        assertEquals(IntStream.range(0, 8).boxed().toList(), p.devices());
        assertTrue(p.lead());
    }

    @Test void severalGpusPerProcessRecommendEagerModuleLoading() {
        assertTrue(plan(2, gpus(2)).note().contains("CUDA_MODULE_LOADING=EAGER"));
        assertEquals("", plan(2, new FakeMachine(2, "", "", Map.of("CUDA_MODULE_LOADING", "EAGER"))).note());
        assertEquals("", plan(1, gpus(2)).note());
    }

    @Test void cudaWithFewerRanksThanGpusUsesTheFirstOnes() {
        assertEquals(List.of(0, 1), plan(2, gpus(8)).devices());
    }

    @Test void cudaMultiNodeRunsThisNodesSliceOfTheGlobalRanks() {
        RankPlan p = plan(16, new FakeMachine(8, "", "", LaunchEnv.nodes(2, 1)));
        assertEquals(2, p.processes());
        assertEquals(1, p.processRank());
        assertEquals(8, p.localRanks());
        assertEquals(8, p.firstRank());
        assertFalse(p.lead());
        assertEquals(IntStream.range(0, 8).boxed().toList(), p.devices());
        assertTrue(plan(16, new FakeMachine(8, "", "", LaunchEnv.nodes(2, 0))).lead());
    }

    @Test void visibleDevicesAreTheGpusWhereCudaWorksAndNoneElsewhere() {
        for (int n = 1; n <= 8; n *= 2) assertEquals(n, new CudaRanks(gpus(n)).visibleDevices());
        FakeMachine broken = new FakeMachine(4, "no NVIDIA driver: libcuda.so.1 could not be loaded", "", Map.of());
        assertEquals(0, new CudaRanks(broken).visibleDevices());
    }

    @Test void unavailableCudaSaysWhyAndThatCpuWorks() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> plan(1, new FakeMachine(0, "no NVIDIA driver: libcuda.so.1 could not be loaded", "", Map.of())));
        assertTrue(e.getMessage().contains("no NVIDIA driver: libcuda.so.1"), e.getMessage());
        assertTrue(e.getMessage().contains("--backend cpu"), e.getMessage());
    }

    @Test void moreRanksThanVisibleGpusIsRejectedNamingBoth() {
        var m = new FakeMachine(2, "", "", Map.of("CUDA_VISIBLE_DEVICES", "3,5"));
        var e = assertThrows(IllegalArgumentException.class, () -> plan(4, m));
        assertTrue(e.getMessage().contains("world_size 4 needs 4 GPUs"), e.getMessage());
        assertTrue(e.getMessage().contains("only 2 are visible"), e.getMessage());
        assertTrue(e.getMessage().contains("CUDA_VISIBLE_DEVICES=3,5"), e.getMessage());
        assertTrue(e.getMessage().contains("--world-size 2"), e.getMessage());
    }

    @Test void multiNodeNeedsEnoughGpusPerNode() {
        var e = assertThrows(IllegalArgumentException.class, () -> plan(16, new FakeMachine(4, "", "", LaunchEnv.nodes(2, 0))));
        assertTrue(e.getMessage().contains("needs 8 GPUs per process"), e.getMessage());
        assertTrue(e.getMessage().contains("--world-size 8"), e.getMessage());
    }

    @Test void worldSizeMustSplitEvenlyOverTheNodes() {
        var e = assertThrows(IllegalArgumentException.class, () -> plan(3, new FakeMachine(8, "", "", LaunchEnv.nodes(2, 0))));
        assertTrue(e.getMessage().contains("world_size 3 is not a multiple of WORLD_SIZE=2"), e.getMessage());
    }

    @Test void badLaunchVariablesAreNamed() {
        Map<String, String> env = LaunchEnv.nodes(2, 0);
        env.remove("MASTER_ADDR");
        var e = assertThrows(IllegalArgumentException.class, () -> plan(2, new FakeMachine(8, "", "", env)));
        assertTrue(e.getMessage().contains("MASTER_ADDR"), e.getMessage());
        Map<String, String> env2 = LaunchEnv.nodes(2, 2);
        var e2 = assertThrows(IllegalArgumentException.class, () -> plan(2, new FakeMachine(8, "", "", env2)));
        assertTrue(e2.getMessage().contains("RANK"), e2.getMessage());
    }

    @Test void missingNcclListsThePlacesTriedAndTheAlternatives(@TempDir Path empty) {
        // the real loader's message for a folder without libnccl.so.2
        String problem = assertThrows(NativeLibraries.NotFound.class,
                () -> NativeLibraries.load("NCCL", Nccl.SONAMES, List.of(empty), false)).getMessage();
        var e = assertThrows(IllegalArgumentException.class, () -> plan(2, new FakeMachine(2, "", problem, Map.of())));
        assertTrue(e.getMessage().contains(empty.resolve("libnccl.so.2").toString()), e.getMessage());
        assertTrue(e.getMessage().contains("needs NCCL"), e.getMessage());
        assertTrue(e.getMessage().contains("--backend cpu"), e.getMessage());
        assertTrue(e.getMessage().contains(NativeLibraries.ENV), e.getMessage());
    }

    @Test void oneGpuRunsWithoutNcclAndSaysSo() {
        RankPlan p = plan(1, new FakeMachine(1, "", "could not load NCCL", Map.of()));
        assertFalse(p.deviceCollectives());
        assertEquals(List.of(0), p.devices());
        assertTrue(p.note().contains("NCCL not found"), p.note());
        assertTrue(plan(1, gpus(1)).deviceCollectives(), "with NCCL present one GPU uses it (on-stream collectives)");
    }

    @Test void theLocationNamesTheGpusAndTheCollectives() {
        assertEquals("on GPUs [0, 1] with NCCL", plan(2, gpus(2)).location());
        assertEquals("on GPUs [0]", plan(1, new FakeMachine(1, "", "could not load NCCL", Map.of())).location());
    }
}
