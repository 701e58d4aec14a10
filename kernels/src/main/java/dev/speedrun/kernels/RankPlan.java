package dev.speedrun.kernels;

import java.util.List;

/**
 * The placement of a run on this process, decided by the backend's {@link RankProvider} before
 * anything is opened (so a missing device or library is reported before a run writes anything).
 *
 * @param request           what was asked for
 * @param processes         processes of the run (WORLD_SIZE; 1 unless several nodes)
 * @param processRank       this process (RANK); it runs global ranks [processRank·localRanks, +localRanks)
 * @param localRanks        ranks (threads) of this process
 * @param devices           device ordinal of each local rank, empty for host backends
 * @param deviceCollectives true when collectives are queued on the devices (NCCL): a rank that fails
 *                          cannot wake peers waiting in one, so they are given time and not closed
 * @param location          where the local ranks run, for the console ("on GPUs [0, 1] with NCCL"),
 *                          empty for threads on the host
 * @param note              a line for the console (e.g. a fallback taken), empty when none
 */
public record RankPlan(RankRequest request, int processes, int processRank, int localRanks, List<Integer> devices,
                       boolean deviceCollectives, String location, String note) {
    public RankPlan {
        devices = List.copyOf(devices);
    }

    public String backend() { return request.backend(); }

    public int worldSize() { return request.worldSize(); }

    public int firstRank() { return processRank * localRanks; }

    /** True on the process that runs rank 0 (writes the run folder). */
    public boolean lead() { return processRank == 0; }
}
