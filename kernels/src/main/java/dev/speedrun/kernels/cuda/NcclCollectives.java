package dev.speedrun.kernels.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;

import dev.speedrun.kernels.Collectives;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * {@link Collectives} over NCCL for one GPU (one rank). Every NCCL call runs on the device's
 * <b>communication stream</b> ({@link Lane#COMMUNICATION}), ordered against the compute stream by
 * two events and no host wait: before the call the compute stream records an event that the
 * communication stream waits for (the inputs, written by kernels queued so far, are ready); after
 * it the communication stream records the collective's own event, and {@link Pending#await()} makes
 * the compute stream wait for that one. The synchronous collectives are the asynchronous ones
 * awaited at once, so all calls of the communicator share one stream and run in the order they are
 * issued, the same on every rank (NCCL's rule); only {@link #barrier()} waits on the host. One
 * thread per GPU in a node; several nodes share the NCCL id through {@link NcclBootstrap} (global
 * rank = node rank × GPUs per node + local index).
 *
 * <p>Buffer lifetimes: between an asynchronous call and its {@code await()} the compute stream runs
 * on, so the caller must not write the collective's input or output, nor read its output, in that
 * interval (the optimizers' overlapped order keeps to this: docs/optim.md). Work queued on the
 * compute stream <i>before</i> the call cannot clobber the input either, since the collective
 * starts only after it; work queued after {@code await()} runs only after the collective.
 *
 * <p>Events come from a pool: one "inputs ready" event re-recorded by every call (a wait already
 * queued keeps the state it saw), and one per outstanding collective, returned by {@code await()};
 * in steady state no call creates an event or allocates.
 */
public final class NcclCollectives implements Collectives {
    /** What the collectives need from their GPU (JCudaDevice; tests use a host stand-in). */
    interface Device extends StreamEvents {
        void makeCurrent();

        /** The compute stream (kernels, cuBLASLt); not used by the collectives, which run on {@link #commStreamHandle()}. */
        long streamHandle();

        /** The communication stream's raw handle (cudaStream_t), where every NCCL call runs. */
        long commStreamHandle();


        void synchronize();

        dev.speedrun.tensor.Backend backend();

        Tensor scratch(int slot, long floats);

        /** Sends the launches a replayable region has queued ({@link LaunchQueue}), so a collective runs after them. */
        default void flush() {}
    }

    private final Nccl nccl;
    private final Device device;
    private final MemorySegment comm;
    /** The communication stream, where the NCCL calls run. */
    private final MemorySegment stream;
    private final int rank, worldSize;
    /** Recorded on the compute stream before each call and waited for by the communication stream. */
    private final int inputsReady;
    /** Tickets (each with its event) of collectives already awaited, for reuse. */
    private final ArrayDeque<Ticket> freeTickets = new ArrayDeque<>();
    private Tensor barrierBuf;

    private NcclCollectives(Nccl nccl, Device device, MemorySegment comm, int rank, int worldSize) {
        this.nccl = nccl;
        this.device = device;
        this.comm = comm;
        this.stream = MemorySegment.ofAddress(device.commStreamHandle());
        this.rank = rank;
        this.worldSize = worldSize;
        this.inputsReady = device.createEvent();
    }

    /** One outstanding collective: the event its stream recorded after it. */
    private final class Ticket implements Pending {
        final int event = device.createEvent();
        boolean open;

        @Override public void await() {
            if (!open) throw new IllegalStateException("NCCL collective awaited twice");
            open = false;
            device.makeCurrent();
            device.waitEvent(Lane.COMPUTE, event);
            // the compute stream's wait is queued with the event's present state: the event may be re-recorded now
            freeTickets.push(this);
        }
    }

    /** Before an NCCL call: the communication stream waits for what the compute stream has queued so far. */
    private void begin() {
        // launches a replayable region has queued come before the collective that reads their results
        device.flush();
        device.makeCurrent();
        device.recordEvent(inputsReady, Lane.COMPUTE);
        device.waitEvent(Lane.COMMUNICATION, inputsReady);
    }

    /** After an NCCL call: its completion event, to be awaited by the compute stream. */
    private Pending end() {
        Ticket t = freeTickets.isEmpty() ? new Ticket() : freeTickets.pop();
        t.open = true;
        device.recordEvent(t.event, Lane.COMMUNICATION);
        return t;
    }

    /**
     * Joins the communicator of {@code id} as {@code rank} of {@code worldSize}; blocks until every
     * rank has joined, so each rank calls this on its own thread.
     */
    public static NcclCollectives join(JCudaDevice device, byte[] id, int rank, int worldSize) {
        return join(Nccl.load(), device, id, rank, worldSize);
    }

    static NcclCollectives join(Nccl nccl, Device device, byte[] id, int rank, int worldSize) {
        if (id.length != Nccl.UNIQUE_ID_BYTES) throw new IllegalArgumentException("an NCCL id has " + Nccl.UNIQUE_ID_BYTES + " bytes, got " + id.length);
        device.makeCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            MemorySegment idSeg = a.allocate(Nccl.UNIQUE_ID);
            idSeg.copyFrom(MemorySegment.ofArray(id));
            nccl.check("ncclCommInitRank(rank " + rank + " of " + worldSize + ")",
                    Nccl.invoke(() -> (int) nccl.commInitRank.invokeExact(out, worldSize, idSeg, rank)));
            return new NcclCollectives(nccl, device, out.get(ADDRESS, 0), rank, worldSize);
        }
    }

    /**
     * All GPUs of this node as one run: one thread per device joins concurrently; process
     * {@code bootstrap.rank()} of {@code bootstrap.worldSize()} processes (one per node) owns global
     * ranks [rank·n, (rank+1)·n) for its n devices. Returns the collectives in device order.
     */
    public static List<NcclCollectives> forNode(List<JCudaDevice> devices, NcclBootstrap bootstrap) {
        int n = devices.size();
        byte[] id = bootstrap.exchange(() -> Nccl.load().uniqueId());
        int world = bootstrap.worldSize() * n;
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<NcclCollectives>> fs = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int local = i;
                fs.add(pool.submit(() -> join(devices.get(local), id, bootstrap.rank() * n + local, world)));
            }
            List<NcclCollectives> out = new ArrayList<>();
            for (Future<NcclCollectives> f : fs) out.add(f.get());
            return out;
        } catch (Exception e) {
            throw new IllegalStateException("NCCL initialisation failed: " + e.getMessage(), e);
        } finally {
            pool.shutdown();
        }
    }

    static int ncclType(DType t) {
        return switch (t) {
            case F32 -> Nccl.ncclFloat32;
            case BF16 -> Nccl.ncclBfloat16;
            case F64 -> Nccl.ncclFloat64;
            case I32 -> Nccl.ncclInt32;
            default -> throw new IllegalArgumentException("NCCL collectives take F32, BF16, F64 or I32, got " + t);
        };
    }

    private static int ncclOp(Reduce op) { return op == Reduce.SUM ? Nccl.ncclSum : Nccl.ncclAvg; }

    private MemorySegment addr(Tensor t) {
        if (!device.backend().equals(t.backend())) throw new IllegalArgumentException("NCCL needs tensors of this rank's GPU, got " + t);
        return MemorySegment.ofAddress(t.address());
    }

    @Override public int rank() { return rank; }

    @Override public int worldSize() { return worldSize; }

    @Override public void allReduce(Tensor buf, Reduce op) { allReduceAsync(buf, op).await(); }

    @Override public void reduceScatter(Tensor out, Tensor in, Reduce op) { reduceScatterAsync(out, in, op).await(); }

    @Override public void allGather(Tensor out, Tensor in) { allGatherAsync(out, in).await(); }

    /** {@code buf} [N] in place. */
    @Override public Pending allReduceAsync(Tensor buf, Reduce op) {
        MemorySegment p = addr(buf);
        long n = buf.numel();
        int dt = ncclType(buf.dtype()), o = ncclOp(op);
        begin();
        int rc = Nccl.invoke(() -> (int) nccl.allReduce.invokeExact(p, p, n, dt, o, comm, stream));
        if (rc != 0) nccl.check("ncclAllReduce(" + n + ")", rc);   // the message only on failure: no strings per call
        return end();
    }

    /** {@code out} [N], {@code in} [worldSize·N]; in place when out is in's chunk of this rank. */
    @Override public Pending reduceScatterAsync(Tensor out, Tensor in, Reduce op) {
        if (in.numel() != out.numel() * worldSize)
            throw new IllegalArgumentException("reduceScatter: in has " + in.numel() + " elements, expected " + worldSize + " × " + out.numel());
        if (in.dtype() != out.dtype()) throw new IllegalArgumentException("reduceScatter: dtypes differ");
        MemorySegment s = addr(in), r = addr(out);
        long n = out.numel();
        int dt = ncclType(out.dtype()), o = ncclOp(op);
        begin();
        int rc = Nccl.invoke(() -> (int) nccl.reduceScatter.invokeExact(s, r, n, dt, o, comm, stream));
        if (rc != 0) nccl.check("ncclReduceScatter(" + n + ")", rc);
        return end();
    }

    /** {@code out} [worldSize·N], {@code in} [N]; in place when in is out's chunk of this rank. */
    @Override public Pending allGatherAsync(Tensor out, Tensor in) {
        if (out.numel() != in.numel() * worldSize)
            throw new IllegalArgumentException("allGather: out has " + out.numel() + " elements, expected " + worldSize + " × " + in.numel());
        if (in.dtype() != out.dtype()) throw new IllegalArgumentException("allGather: dtypes differ");
        MemorySegment s = addr(in), r = addr(out);
        long n = in.numel();
        int dt = ncclType(in.dtype());
        begin();
        int rc = Nccl.invoke(() -> (int) nccl.allGather.invokeExact(s, r, n, dt, comm, stream));
        if (rc != 0) nccl.check("ncclAllGather(" + n + ")", rc);
        return end();
    }

    @Override public void broadcast(Tensor buf, int root) {
        if (root < 0 || root >= worldSize) throw new IllegalArgumentException("broadcast root " + root + " outside [0, " + worldSize + ")");
        MemorySegment p = addr(buf);
        long n = buf.numel();
        int dt = ncclType(buf.dtype());
        begin();
        int rc = Nccl.invoke(() -> (int) nccl.broadcast.invokeExact(p, p, n, dt, root, comm, stream));
        if (rc != 0) nccl.check("ncclBroadcast(" + n + ")", rc);
        end().await();
    }

    /** The compute stream waits for the all-reduce, and the host for the compute stream. */
    @Override public void barrier() {
        if (barrierBuf == null) barrierBuf = device.scratch(99, 1);
        allReduce(barrierBuf.view(0, 1), Reduce.SUM);
        device.synchronize();
    }

    @Override public void close() {
        // collectives never awaited still run on the communication stream: order them before the host wait too
        device.makeCurrent();
        end().await();
        device.synchronize();
        nccl.check("ncclCommDestroy", Nccl.invoke(() -> (int) nccl.commDestroy.invokeExact(comm)));
    }
}
