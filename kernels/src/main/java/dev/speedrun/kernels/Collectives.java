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

    @Override default void close() {}
}
