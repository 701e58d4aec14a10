package dev.speedrun.app;

import dev.speedrun.app.config.ConfigException;
import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.collective.InProcessCollectives;
import dev.speedrun.kernels.cuda.CudaBackend;
import dev.speedrun.kernels.cuda.CudaOps;
import dev.speedrun.kernels.cuda.JCudaDevice;
import dev.speedrun.kernels.cuda.NativeLibraries;
import dev.speedrun.kernels.cuda.Nccl;
import dev.speedrun.kernels.cuda.NcclBootstrap;
import dev.speedrun.kernels.cuda.NcclCollectives;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Where the ranks of a training run live and what they compute and communicate with.
 *
 * <ul>
 *   <li>{@code cpu} (and any backend other than cuda): every rank is a thread of this process,
 *       each with its own ops of that backend, over {@link InProcessCollectives}.</li>
 *   <li>{@code cuda}: one thread per local GPU; rank thread i owns device i (its own
 *       {@link CudaBackend}, {@link CudaOps}, stream and context, made current on the thread
 *       before it does anything) and an {@link NcclCollectives} communicator. In one process the
 *       NCCL id is shared in memory; with several processes (one per node, torchrun-style
 *       variables MASTER_ADDR, MASTER_PORT, RANK = node index, WORLD_SIZE = number of nodes) it
 *       goes over TCP through {@link NcclBootstrap}, and process p runs global ranks
 *       [p·n, (p+1)·n) on its n = world_size / WORLD_SIZE GPUs. A single GPU without NCCL falls
 *       back to the in-process collectives (world size 1 needs no communication).</li>
 * </ul>
 *
 * {@link #plan} decides everything from the configuration and a {@link Machine} (pure, tested
 * with a fake machine); {@link #open} creates devices and communicators.
 */
final class RankRuntime implements AutoCloseable {
    /** What the plan needs to know about this machine; {@link #system()} asks the real one. */
    interface Machine {
        Map<String, String> env();

        /** Why the cuda backend cannot run here, empty when it can. */
        String cudaProblem();

        /** GPUs visible to this process (CUDA_VISIBLE_DEVICES applies). */
        int gpuCount();

        /** Why libnccl.so.2 does not load (naming every place tried), empty when it does. */
        String ncclProblem();

        static Machine system() {
            return new Machine() {
                @Override public Map<String, String> env() { return System.getenv(); }

                @Override public String cudaProblem() { return CudaBackend.forDevice(0).unavailableReason(); }

                @Override public int gpuCount() { return CudaBackend.probe().deviceCount(); }

                @Override public String ncclProblem() {
                    try {
                        Nccl.load();
                        return "";
                    } catch (NativeLibraries.NotFound e) {
                        return e.getMessage();
                    } catch (RuntimeException | LinkageError e) {
                        return "libnccl.so.2 loaded but could not be bound: " + e.getMessage();
                    }
                }
            };
        }
    }

    /**
     * The placement of a run.
     *
     * @param backend      backend name of every rank
     * @param worldSize    ranks over all processes
     * @param processes    processes of the run (WORLD_SIZE; 1 unless several nodes)
     * @param processRank  this process (RANK); it runs global ranks [processRank·localRanks, +localRanks)
     * @param localRanks   ranks (threads) of this process
     * @param devices      CUDA ordinal of each local rank, empty for non-GPU backends
     * @param nccl         true when the ranks communicate through NCCL
     * @param note         a line for the console (e.g. a fallback taken), empty when none
     */
    record Plan(String backend, int worldSize, int processes, int processRank, int localRanks, List<Integer> devices,
                boolean nccl, String note) {
        int firstRank() { return processRank * localRanks; }

        /** True on the process that runs rank 0 (writes the run folder). */
        boolean lead() { return processRank == 0; }

        boolean cuda() { return CudaBackend.NAME.equals(backend); }
    }

    /**
     * One rank run by this process. {@link #ops()} is called first on the rank's own thread: for
     * cuda it makes the rank's device context current on that thread.
     */
    record Rank(int rank, Collectives comm, Supplier<Ops> opsFactory) {
        Ops ops() { return opsFactory.get(); }
    }

    private final Plan plan;
    private final List<Rank> ranks;
    private final List<? extends Collectives> comms;

    private RankRuntime(Plan plan, List<Rank> ranks, List<? extends Collectives> comms) {
        this.plan = plan;
        this.ranks = List.copyOf(ranks);
        this.comms = comms;
    }

    Plan plan() { return plan; }

    /** This process's ranks, in rank order. */
    List<Rank> ranks() { return ranks; }

    /** Closes every communicator (on failure this also wakes in-process ranks waiting in a collective). */
    void abort() { comms.forEach(c -> { try { c.close(); } catch (RuntimeException ignored) { } }); }

    @Override public void close() { comms.forEach(Collectives::close); }

    // ------------------------------------------------------------------------------ the plan

    /** Decides the placement; throws a {@link ConfigException} saying what is missing and what works instead. */
    static Plan plan(String backend, int worldSize, Machine m) {
        if (worldSize < 1) throw new ConfigException("world_size must be ≥ 1, got " + worldSize);
        if (!CudaBackend.NAME.equals(backend))
            return new Plan(backend, worldSize, 1, 0, worldSize, List.of(), false, "");
        String cuda = m.cudaProblem();
        if (!cuda.isEmpty())
            throw new ConfigException("--backend cuda is not available here: " + cuda + ". --backend cpu works on any machine.");
        NcclBootstrap boot;
        try {
            boot = NcclBootstrap.fromEnv(m.env());
        } catch (IllegalArgumentException e) {
            throw new ConfigException("multi-node launch variables: " + e.getMessage()
                    + " (one process per node: MASTER_ADDR, MASTER_PORT, RANK = node index, WORLD_SIZE = number of nodes)");
        }
        int procs = boot.worldSize();
        if (worldSize % procs != 0)
            throw new ConfigException("world_size " + worldSize + " is not a multiple of WORLD_SIZE=" + procs
                    + " (processes, one per node; each runs world_size / WORLD_SIZE GPUs)");
        int local = worldSize / procs;
        int gpus = m.gpuCount();
        if (local > gpus) {
            String vis = m.env().get("CUDA_VISIBLE_DEVICES");
            throw new ConfigException("world_size " + worldSize + (procs > 1 ? " over WORLD_SIZE=" + procs + " processes needs " + local
                    + " GPUs per process" : " needs " + local + " GPUs") + ", but only " + gpus + " " + (gpus == 1 ? "is" : "are")
                    + " visible" + (vis == null ? "" : " (CUDA_VISIBLE_DEVICES=" + vis + ")") + ": use --world-size " + gpus * procs
                    + " or fewer" + (procs > 1 ? " (a multiple of " + procs + ")" : ""));
        }
        List<Integer> devices = new ArrayList<>();
        for (int i = 0; i < local; i++) devices.add(i);
        String nccl = m.ncclProblem();
        if (worldSize > 1 && !nccl.isEmpty())
            throw new ConfigException("--backend cuda with world_size " + worldSize + " needs NCCL (libnccl.so.2): " + nccl
                    + "\nInstall it (the libnccl2 package, or `pip install nvidia-nccl-cu12`) or point " + NativeLibraries.ENV
                    + " at its folder; --world-size 1 runs one GPU without NCCL, and --backend cpu works on any machine.");
        String note = worldSize == 1 && !nccl.isEmpty() ? "NCCL not found; one GPU needs no communication, using in-process collectives" : "";
        if (local > 1 && !"EAGER".equals(m.env().get("CUDA_MODULE_LOADING")))
            note = "this process drives " + local + " GPUs; set CUDA_MODULE_LOADING=EAGER so that no lazy kernel load (cuBLASLt) "
                    + "runs while NCCL kernels wait for a peer (a known hang with several GPUs per process)";
        return new Plan(backend, worldSize, procs, boot.rank(), local, List.copyOf(devices), worldSize > 1 || nccl.isEmpty(), note);
    }

    // ------------------------------------------------------------------------------ opening

    /** Creates the ranks of {@code plan}: in-process threads, or GPUs with their NCCL communicators. */
    static RankRuntime open(Plan plan, Map<String, String> env) {
        if (!plan.cuda()) {
            List<Collectives> comms = InProcessCollectives.create(plan.worldSize());
            List<Rank> ranks = new ArrayList<>();
            for (int r = 0; r < plan.worldSize(); r++) ranks.add(new Rank(r, comms.get(r), () -> Kernels.ops(plan.backend())));
            return new RankRuntime(plan, ranks, comms);
        }
        List<JCudaDevice> devices = new ArrayList<>();
        for (int ordinal : plan.devices()) devices.add(CudaBackend.forDevice(ordinal).device());
        List<? extends Collectives> comms = plan.nccl() ? NcclCollectives.forNode(devices, NcclBootstrap.fromEnv(env))
                : InProcessCollectives.create(1);
        List<Rank> ranks = new ArrayList<>();
        for (int i = 0; i < devices.size(); i++) {
            JCudaDevice dev = devices.get(i);
            CudaOps ops = new CudaOps(dev);
            Collectives c = comms.get(i);
            if (c.rank() != plan.firstRank() + i || c.worldSize() != plan.worldSize())
                throw new IllegalStateException("communicator " + i + " is rank " + c.rank() + " of " + c.worldSize() + ", expected "
                        + (plan.firstRank() + i) + " of " + plan.worldSize());
            ranks.add(new Rank(plan.firstRank() + i, c, () -> {
                dev.makeCurrent();   // cuBLASLt and NCCL launch into the thread's current context
                return ops;
            }));
        }
        return new RankRuntime(plan, ranks, comms);
    }
}
