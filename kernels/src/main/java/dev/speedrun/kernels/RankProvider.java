package dev.speedrun.kernels;

/**
 * SPI (ServiceLoader): places the ranks of a run on one backend and opens them, as an engine
 * library hands out engines by name. A backend without a provider gets threads of this process
 * over in-process collectives ({@link Ranks}), so a new host backend needs none.
 */
public interface RankProvider {
    /** Backend name this provider serves ("cpu", "cuda"). */
    String backend();

    /**
     * Decides the placement from the request and this machine, opening nothing; throws an
     * {@link IllegalArgumentException} saying what is missing and what works instead.
     */
    RankPlan plan(RankRequest request);

    /**
     * Devices of this backend visible to this process (GPUs, with CUDA_VISIBLE_DEVICES applied);
     * 0 for a backend whose ranks are threads of this process. A sweep splits them into groups,
     * one run per group.
     */
    default int visibleDevices() { return 0; }

    /** Creates the ops and collectives of this process's ranks of {@code plan}. */
    LocalRanks open(RankPlan plan);
}
