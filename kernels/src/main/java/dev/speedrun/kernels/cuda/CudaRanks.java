package dev.speedrun.kernels.cuda;

import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.LocalRanks;
import dev.speedrun.kernels.RankPlan;
import dev.speedrun.kernels.RankProvider;
import dev.speedrun.kernels.RankRequest;
import dev.speedrun.kernels.collective.InProcessCollectives;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The ranks of a cuda run: one thread per local GPU; rank thread i owns device i (its own
 * {@link CudaBackend}, {@link CudaOps}, stream and context, made current on the thread before it
 * does anything) and an {@link NcclCollectives} communicator. In one process the NCCL id is shared
 * in memory; with several processes (one per node, torchrun-style variables MASTER_ADDR,
 * MASTER_PORT, RANK = node index, WORLD_SIZE = number of nodes) it goes over TCP through
 * {@link NcclBootstrap}, and process p runs global ranks [p·n, (p+1)·n) on its
 * n = world_size / WORLD_SIZE GPUs. A single GPU without NCCL falls back to the in-process
 * collectives (world size 1 needs no communication).
 */
public final class CudaRanks implements RankProvider {
    /** What the plan needs to know about this machine; {@link #system()} asks the real one (tests use a fake). */
    interface Machine {
        /** Why the cuda backend cannot run here, empty when it can. */
        String cudaProblem();

        /** GPUs visible to this process (CUDA_VISIBLE_DEVICES applies). */
        int gpuCount();

        /** Why libnccl.so.2 does not load (naming every place tried), empty when it does. */
        String ncclProblem();

        static Machine system() {
            return new Machine() {
                @Override public String cudaProblem() { return CudaBackend.forDevice(0).unavailableReason(); }

                @Override public int gpuCount() { return CudaBackend.probe().deviceCount(); }

                @Override public String ncclProblem() { return CudaRanks.ncclProblem(); }
            };
        }
    }

    private final Machine machine;

    /** The ServiceLoader constructor: this machine. */
    public CudaRanks() { this(Machine.system()); }

    CudaRanks(Machine machine) { this.machine = machine; }

    /** Why libnccl.so.2 does not load here (naming every place tried), empty when it does. */
    public static String ncclProblem() {
        try {
            Nccl.load();
            return "";
        } catch (NativeLibraries.NotFound e) {
            return e.getMessage();
        } catch (RuntimeException | LinkageError e) {
            return "libnccl.so.2 loaded but could not be bound: " + e.getMessage();
        }
    }

    @Override public String backend() { return CudaBackend.NAME; }

    @Override public int visibleDevices() { return machine.cudaProblem().isEmpty() ? machine.gpuCount() : 0; }

    @Override public RankPlan plan(RankRequest request) {
        int worldSize = request.worldSize();
        Map<String, String> env = request.env();
        String cuda = machine.cudaProblem();
        if (!cuda.isEmpty())
            throw new IllegalArgumentException("--backend cuda is not available here: " + cuda + ". --backend cpu works on any machine.");
        NcclBootstrap boot;
        try {
            boot = NcclBootstrap.fromEnv(env);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("multi-node launch variables: " + e.getMessage()
                    + " (one process per node: MASTER_ADDR, MASTER_PORT, RANK = node index, WORLD_SIZE = number of nodes)");
        }
        int procs = boot.worldSize();
        if (worldSize % procs != 0)
            throw new IllegalArgumentException("world_size " + worldSize + " is not a multiple of WORLD_SIZE=" + procs
                    + " (processes, one per node; each runs world_size / WORLD_SIZE GPUs)");
        int local = worldSize / procs;
        int gpus = machine.gpuCount();
        if (local > gpus) {
            String vis = env.get("CUDA_VISIBLE_DEVICES");
            throw new IllegalArgumentException("world_size " + worldSize + (procs > 1 ? " over WORLD_SIZE=" + procs + " processes needs "
                    + local + " GPUs per process" : " needs " + local + " GPUs") + ", but only " + gpus + " " + (gpus == 1 ? "is" : "are")
                    + " visible" + (vis == null ? "" : " (CUDA_VISIBLE_DEVICES=" + vis + ")") + ": use --world-size " + gpus * procs
                    + " or fewer" + (procs > 1 ? " (a multiple of " + procs + ")" : ""));
        }
        List<Integer> devices = new ArrayList<>();
        for (int i = 0; i < local; i++) devices.add(i);
        String nccl = machine.ncclProblem();
        if (worldSize > 1 && !nccl.isEmpty())
            throw new IllegalArgumentException("--backend cuda with world_size " + worldSize + " needs NCCL (libnccl.so.2): " + nccl
                    + "\nInstall it (the libnccl2 package, or `pip install nvidia-nccl-cu12`) or point " + NativeLibraries.ENV
                    + " at its folder; --world-size 1 runs one GPU without NCCL, and --backend cpu works on any machine.");
        String note = worldSize == 1 && !nccl.isEmpty() ? "NCCL not found; one GPU needs no communication, using in-process collectives" : "";
        if (local > 1 && !"EAGER".equals(env.get("CUDA_MODULE_LOADING")))
            note = "this process drives " + local + " GPUs; set CUDA_MODULE_LOADING=EAGER so that no lazy kernel load (cuBLASLt) "
                    + "runs while NCCL kernels wait for a peer (a known hang with several GPUs per process)";
        boolean withNccl = worldSize > 1 || nccl.isEmpty();
        return new RankPlan(request, procs, boot.rank(), local, devices, withNccl, "on GPUs " + devices + (withNccl ? " with NCCL" : ""),
                note);
    }

    @Override public LocalRanks open(RankPlan plan) {
        List<JCudaDevice> devices = new ArrayList<>();
        for (int ordinal : plan.devices()) devices.add(CudaBackend.forDevice(ordinal).device());
        List<? extends Collectives> comms = plan.deviceCollectives()
                ? NcclCollectives.forNode(devices, NcclBootstrap.fromEnv(plan.request().env()))
                : InProcessCollectives.create(1);
        List<LocalRanks.Rank> ranks = new ArrayList<>();
        for (int i = 0; i < devices.size(); i++) {
            JCudaDevice dev = devices.get(i);
            CudaOps ops = new CudaOps(dev);
            Collectives c = comms.get(i);
            if (c.rank() != plan.firstRank() + i || c.worldSize() != plan.worldSize())
                throw new IllegalStateException("communicator " + i + " is rank " + c.rank() + " of " + c.worldSize() + ", expected "
                        + (plan.firstRank() + i) + " of " + plan.worldSize());
            ranks.add(new LocalRanks.Rank(plan.firstRank() + i, c, () -> {
                dev.makeCurrent();   // cuBLASLt and NCCL launch into the thread's current context
                return ops;
            }));
        }
        return new LocalRanks(plan, ranks, comms);
    }
}
