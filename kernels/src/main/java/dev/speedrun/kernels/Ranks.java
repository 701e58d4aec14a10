package dev.speedrun.kernels;

import dev.speedrun.kernels.collective.InProcessRanks;
import dev.speedrun.tensor.Backends;
import java.util.ServiceLoader;

/** Finds the {@link RankProvider} of a backend by name and places or opens a run's ranks with it. */
public final class Ranks {
    private Ranks() {}

    /**
     * The placement of {@code request}; an unknown backend is an error listing the valid ones, and
     * one without a provider runs its ranks as threads of this process.
     */
    public static RankPlan plan(RankRequest request) { return provider(request.backend()).plan(request); }

    /** Opens this process's ranks of {@code plan} (devices, communicators). */
    public static LocalRanks open(RankPlan plan) { return provider(plan.backend()).open(plan); }

    /** The devices of {@code backend} this process sees (0 where ranks are threads: cpu, cuda-emu). */
    public static int visibleDevices(String backend) { return provider(backend).visibleDevices(); }

    private static RankProvider provider(String backend) {
        for (RankProvider p : ServiceLoader.load(RankProvider.class))
            if (p.backend().equalsIgnoreCase(backend)) return p;
        return new InProcessRanks(Backends.get(backend).name());
    }
}
