package dev.speedrun.kernels;

import java.util.List;
import java.util.function.Supplier;

/**
 * The ranks of a {@link RankPlan} that this process runs, each with its ops and collectives;
 * closing closes the communicators.
 */
public final class LocalRanks implements AutoCloseable {
    /**
     * One rank. {@link #ops()} is called first on the rank's own thread: a GPU backend makes the
     * rank's device context current on that thread there.
     */
    public record Rank(int rank, Collectives comm, Supplier<Ops> opsFactory) {
        public Ops ops() { return opsFactory.get(); }
    }

    private final RankPlan plan;
    private final List<Rank> ranks;
    private final List<? extends Collectives> comms;

    /** {@code comms} are every communicator the ranks use, closed with them. */
    public LocalRanks(RankPlan plan, List<Rank> ranks, List<? extends Collectives> comms) {
        this.plan = plan;
        this.ranks = List.copyOf(ranks);
        this.comms = List.copyOf(comms);
    }

    public RankPlan plan() { return plan; }

    /** This process's ranks, in rank order. */
    public List<Rank> ranks() { return ranks; }

    /** Closes every communicator, ignoring failures (on failure this also wakes in-process ranks waiting in a collective). */
    public void abort() { comms.forEach(c -> { try { c.close(); } catch (RuntimeException ignored) { } }); }

    @Override public void close() { comms.forEach(Collectives::close); }
}
