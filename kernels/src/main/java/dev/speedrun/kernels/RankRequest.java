package dev.speedrun.kernels;

import java.util.Map;

/**
 * What a backend is asked to place: the ranks of a run over all its processes and the launch
 * variables of this process (torchrun-style MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, and
 * whatever else the backend reads, e.g. CUDA_VISIBLE_DEVICES).
 *
 * @param backend   backend name of every rank
 * @param worldSize ranks over all processes
 * @param env       this process's environment
 */
public record RankRequest(String backend, int worldSize, Map<String, String> env) {
    public RankRequest {
        if (worldSize < 1) throw new IllegalArgumentException("world_size must be ≥ 1, got " + worldSize);
        env = Map.copyOf(env);
    }
}
