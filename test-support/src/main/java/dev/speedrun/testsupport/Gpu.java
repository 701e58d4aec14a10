package dev.speedrun.testsupport;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.Backends;

/**
 * The probe-and-skip of every GPU test: a test that needs a device backend calls
 * {@link #usableOrSkip} first and is skipped, with the backend's own sentence saying what is
 * missing (no driver, no device, no kernels in this build), where it cannot run.
 */
public final class Gpu {
    private Gpu() {}

    /** The backend named {@code name} when it can run here; otherwise skips the calling test with the reason. */
    public static Backend usableOrSkip(String name) {
        Backend b;
        try {
            b = Backends.get(name);
        } catch (RuntimeException e) {
            assumeTrue(false, "no usable GPU: backend '" + name + "' is not on the classpath (" + e.getMessage() + ")");
            throw e;
        }
        String why = b.unavailableReason();
        assumeTrue(why.isEmpty(), () -> "no usable GPU: " + why);
        return b;
    }
}
