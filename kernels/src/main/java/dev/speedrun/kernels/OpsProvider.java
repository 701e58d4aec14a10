package dev.speedrun.kernels;

import dev.speedrun.tensor.Backend;

/** SPI (ServiceLoader): makes the {@link Ops} of one backend. */
public interface OpsProvider {
    /** Backend name this provider serves ("cpu", "cuda"). */
    String backend();

    /** Ops for {@code backend}; throws with a clear message when the backend cannot run here. */
    Ops create(Backend backend);

    /** One line on how this backend's kernels run (for benchmarks: e.g. the CPU GEMM's path and threads), empty when nothing to tell. */
    default String describe() { return ""; }
}
