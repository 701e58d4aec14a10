package dev.speedrun.kernels;

import dev.speedrun.tensor.Tensor;

/**
 * Collective communication between the ranks of one training run. One instance per rank;
 * every rank calls the same sequence of collectives. Implementations: in-process threads
 * (CPU training, rank-equivalence tests) and NCCL (GPUs).
 */
public interface Collectives extends AutoCloseable {
    enum Reduce { SUM, AVG }

    int rank();

    int worldSize();

    /** In place on {@code buf} [N]. */
    void allReduce(Tensor buf, Reduce op);

    /**
     * {@code out} [N] receives this rank's chunk (chunk r = elements [r·N, (r+1)·N)) of the
     * reduction of every rank's {@code in} [worldSize·N].
     */
    void reduceScatter(Tensor out, Tensor in, Reduce op);

    /** {@code out} [worldSize·N] = concatenation of every rank's {@code in} [N], rank order. */
    void allGather(Tensor out, Tensor in);

    /** {@code buf} of {@code root} copied to every rank. */
    void broadcast(Tensor buf, int root);

    void barrier();

    /**
     * A collective started by one of the {@code *Async} methods. Until {@link #await()} the caller
     * must neither read the collective's output nor write its input or output (on a GPU the
     * collective may still be running on the communication stream).
     */
    interface Pending {
        /** Already complete (what the synchronous default implementations return). */
        Pending DONE = () -> {};

        /**
         * Orders everything this rank issues afterwards after the collective: on a GPU the compute
         * stream waits for it on the device (no host wait). Call it once.
         */
        void await();
    }

    /**
     * {@link #allReduce} started without ordering the caller's later work after it: see
     * {@link Pending}. The default runs it synchronously. Every rank starts the same sequence of
     * collectives, asynchronous or not, in the same order.
     */
    default Pending allReduceAsync(Tensor buf, Reduce op) {
        allReduce(buf, op);
        return Pending.DONE;
    }

    /** {@link #reduceScatter} started asynchronously (see {@link #allReduceAsync}). */
    default Pending reduceScatterAsync(Tensor out, Tensor in, Reduce op) {
        reduceScatter(out, in, op);
        return Pending.DONE;
    }

    /** {@link #allGather} started asynchronously (see {@link #allReduceAsync}). */
    default Pending allGatherAsync(Tensor out, Tensor in) {
        allGather(out, in);
        return Pending.DONE;
    }

    @Override default void close() {}
}
