package dev.speedrun.kernels;

import dev.speedrun.tensor.Backend;

/** SPI (ServiceLoader): makes the {@link Ops} of one backend. */
public interface OpsProvider {
    /** Backend name this provider serves ("cpu", "cuda"). */
    String backend();

    /** Ops for {@code backend}; throws with a clear message when the backend cannot run here. */
    Ops create(Backend backend);
}
