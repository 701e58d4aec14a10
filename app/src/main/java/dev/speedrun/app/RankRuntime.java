package dev.speedrun.app;

import dev.speedrun.kernels.LocalRanks;
import dev.speedrun.kernels.RankPlan;
import dev.speedrun.kernels.Ranks;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs one body per rank of this process: opens the plan's ranks through the backend
 * ({@link Ranks#open}: in-process threads on CPU, one GPU and NCCL communicator per rank on
 * cuda), runs a single rank on the calling thread and several on a thread each, and rethrows
 * the first failure.
 */
final class RankRuntime {
    /** The work of one rank; what rank 0 returns is the run's result. */
    interface RankBody<R> {
        R run(LocalRanks.Rank rank) throws Exception;
    }

    static final long NCCL_FAILURE_GRACE_MS = 30_000;

    private RankRuntime() {}

    /** Runs {@code body} on every local rank of {@code plan}; rank 0's result, null on the other processes. */
    static <R> R run(RankPlan plan, RankBody<R> body) {
        AtomicReference<R> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        boolean device = plan.deviceCollectives();
        LocalRanks rt = Ranks.open(plan);
        try {
            List<LocalRanks.Rank> ranks = rt.ranks();
            List<Thread> threads = new ArrayList<>();
            for (LocalRanks.Rank rk : ranks) {
                Runnable r = () -> {
                    try {
                        R res = body.run(rk);
                        if (rk.rank() == 0) result.set(res);
                    } catch (Throwable t) {
                        failure.compareAndSet(null, t);
                        if (!device && ranks.size() > 1) rt.abort();
                    }
                };
                // a single local rank runs on this thread (its ops() binds the GPU context here)
                if (ranks.size() == 1) r.run();
                else threads.add(Thread.ofPlatform().name("rank-" + rk.rank()).daemon(device).start(r));
            }
            joinAll(threads, failure, device);
        } finally {
            // NCCL communicators of a failed run may have queued work that never completes: not closed
            if (failure.get() == null || !device) rt.close();
        }
        if (failure.get() != null) {
            if (failure.get() instanceof RuntimeException re) throw re;
            if (failure.get() instanceof Error er) throw er;
            if (failure.get() instanceof java.io.IOException io)
                throw new java.io.UncheckedIOException(dev.speedrun.model.Checkpoints.describe(io), io);
            throw new IllegalStateException(failure.get());
        }
        return result.get();
    }

    /**
     * Waits for the rank threads. In-process ranks are woken by {@link LocalRanks#abort} when one
     * fails; NCCL ranks waiting for a failed peer cannot be (their collectives are queued on the
     * GPU), so after a failure they get {@link #NCCL_FAILURE_GRACE_MS} to finish, then the run
     * reports the failure and leaves them (daemon threads).
     */
    private static void joinAll(List<Thread> threads, AtomicReference<Throwable> failure, boolean nccl) {
        long failedAt = 0;
        for (Thread t : threads) {
            try {
                while (t.isAlive()) {
                    t.join(200);
                    if (nccl && failure.get() != null) {
                        if (failedAt == 0) failedAt = System.nanoTime();
                        else if (System.nanoTime() - failedAt > NCCL_FAILURE_GRACE_MS * 1_000_000L) return;
                    }
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }
}
