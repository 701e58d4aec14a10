package dev.speedrun.testsupport;

import java.util.HashMap;
import java.util.Map;

/** Launch variables of a multi-node run as torchrun sets them, for the rank-placement tests. */
public final class LaunchEnv {
    private LaunchEnv() {}

    /** The environment of the process of node {@code rank} of {@code nodes} (master node0:29511); a mutable map, tests add to it. */
    public static Map<String, String> nodes(int nodes, int rank) {
        return new HashMap<>(Map.of("WORLD_SIZE", String.valueOf(nodes), "RANK", String.valueOf(rank), "MASTER_ADDR", "node0",
                "MASTER_PORT", "29511"));
    }
}
