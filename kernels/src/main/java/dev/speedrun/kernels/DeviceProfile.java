package dev.speedrun.kernels;

import dev.speedrun.kernels.cuda.CudaDevice;
import dev.speedrun.kernels.cuda.CudaOps;
import dev.speedrun.kernels.cuda.DeviceRates;
import dev.speedrun.kernels.cuda.LaunchProfile;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.IntToDoubleFunction;

/**
 * A profile of what a device does while attached (kernel launches, GEMMs and host waits with
 * their cost at the device's peak rates; docs/cuda.md, "Profile"), for callers that only know
 * {@link Ops}: the app attaches one by the ops it was given, without touching backend internals.
 * Only the CUDA backends (real and emulated) can be profiled.
 */
public interface DeviceProfile extends AutoCloseable {
    /** What the device is doing while observed. */
    enum Phase {
        /** forward + backward of micro-batches, counted per micro-step */
        MICRO_STEP,
        /** the optimizer step, counted per step */
        OPTIMIZER,
        /** anything else (readbacks, set-up), counted per step */
        OTHER
    }

    /** Whether {@code ops} runs on a device that can be profiled (a CUDA device, real or emulated). */
    static boolean supports(Ops ops) { return ops instanceof CudaOps; }

    /** Starts profiling the device of {@code ops}; throws naming the backend when it cannot be profiled. */
    static DeviceProfile attach(Ops ops) {
        if (!(ops instanceof CudaOps cuda))
            throw new IllegalArgumentException("only a CUDA device (cuda or cuda-emu) can be profiled, not backend " + ops.backend().name());
        CudaDevice device = cuda.device();
        LaunchProfile p = new LaunchProfile(device.name(), DeviceRates.forDevice(device.name()), () -> device.observe(null));
        device.observe(p);
        return p;
    }

    /** The work from now on belongs to {@code p}. */
    void phase(Phase p);

    /** Keys seen summed over the queries, by attention window in tokens, for the launches that follow (null: one document each). */
    void attentionKeys(IntToDoubleFunction keysSeenByWindow);

    /** One micro-step of {@code tokens} tokens was issued. */
    void endMicroStep(int tokens);

    /** One training step was issued. */
    void endStep();

    /** The name of the peak-rate row the estimate uses. */
    String ratesName();

    long launches(Phase p);

    double launchesPerMicroStep();

    /**
     * Calls that sent work to the driver per micro-step: kernel launches and GEMMs sent one by one
     * plus CUDA graph launches (docs/cuda.md, "CUDA graphs"); equal to {@link #launchesPerMicroStep}
     * without graphs, 1 when each micro-step is one replayed graph.
     */
    double driverLaunchesPerMicroStep();

    /** CUDA graphs launched while profiled, all phases. */
    long graphReplays();

    /** Host waits of all phases per step. */
    double hostSyncsPerStep();

    /** Estimated device time at peak rates of everything profiled, per token trained. */
    double estimatedMicrosPerToken();

    /** The profile as JSON. */
    String json();

    /** Writes the JSON to {@code file} atomically (a temporary file in the same folder, then a rename). */
    void write(Path file) throws IOException;

    /** Stops observing the device (the numbers stay readable). */
    @Override void close();
}
