package dev.speedrun.kernels.collective;

import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.LocalRanks;
import dev.speedrun.kernels.RankPlan;
import dev.speedrun.kernels.RankProvider;
import dev.speedrun.kernels.RankRequest;
import dev.speedrun.tensor.CpuBackend;
import java.util.ArrayList;
import java.util.List;

/**
 * Ranks as threads of this process, each with its own ops of the backend, over
 * {@link InProcessCollectives}: the "cpu" provider, and that of every backend without its own.
 * Launch variables and GPUs are ignored (one process runs every rank).
 */
public final class InProcessRanks implements RankProvider {
    private final String backend;

    /** The ServiceLoader constructor: the cpu backend. */
    public InProcessRanks() { this(CpuBackend.NAME); }

    public InProcessRanks(String backend) { this.backend = backend; }

    @Override public String backend() { return backend; }

    @Override public RankPlan plan(RankRequest request) {
        return new RankPlan(request, 1, 0, request.worldSize(), List.of(), false, "", "");
    }

    @Override public LocalRanks open(RankPlan plan) {
        List<Collectives> comms = InProcessCollectives.create(plan.worldSize());
        List<LocalRanks.Rank> ranks = new ArrayList<>();
        for (int r = 0; r < plan.worldSize(); r++) ranks.add(new LocalRanks.Rank(r, comms.get(r), () -> Kernels.ops(plan.backend())));
        return new LocalRanks(plan, ranks, comms);
    }
}
