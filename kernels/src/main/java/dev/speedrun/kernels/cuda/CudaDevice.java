package dev.speedrun.kernels.cuda;

import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.Tensor;

/**
 * What {@link CudaOps} needs from one GPU: kernel launches on its stream, stream-ordered scratch
 * memory and the vendor GEMM. {@link JCudaDevice} is the real one; tests substitute a recorder so
 * every op's launch arguments are checked against the kernel signatures without a GPU.
 */
public interface CudaDevice {
    /** Grid or block dimensions. */
    record Dim3(int x, int y, int z) {
        public Dim3 {
            if (x < 1 || y < 1 || z < 1) throw new IllegalArgumentException("launch dimensions must be positive: " + x + "×" + y + "×" + z);
        }

        public static Dim3 of(int x) { return new Dim3(x, 1, 1); }

        public static Dim3 of(int x, int y) { return new Dim3(x, y, 1); }
    }

    /** The memory backend whose storage this device's kernels read. */
    Backend backend();

    /** Compute capability as major·10 + minor (80 = A100, 90 = H100/H200). */
    int computeCapability();

    /** Queues {@code kernel} on the device's stream; {@code args} are checked with {@link Kernel#checkArgs}. */
    void launch(Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args);

    /**
     * An F32 device buffer of at least {@code floats} elements for slot {@code slot}, reused by later
     * ops (all work is ordered on one stream, so reuse after the previous op is safe).
     */
    Tensor scratch(int slot, long floats);

    /** The cuBLASLt GEMM, or null when cuBLASLt could not be loaded (then a kernel GEMM runs). */
    Gemm gemm();

    /** Waits for all queued work. */
    void synchronize();

    /** The device's name (cuDeviceGetName; the peak-rate table of {@link DeviceRates} is picked by it). */
    String name();

    /**
     * Reports every launch, vendor GEMM and host wait to {@code observer} from now on (a
     * {@link LaunchProfile}); null stops reporting. Costs nothing while none is set.
     */
    void observe(DeviceObserver observer);

    /**
     * Sends the launches a {@linkplain #replayable region} has queued ({@link LaunchQueue#flush}).
     * Every call that reaches the device's stream other than a launch or vendor GEMM calls this
     * first, and so must any new one (a communication stream, events).
     */
    default void flush() {}

    /**
     * Runs {@code work} with the device's launches recorded, so that a sequence identical to one
     * seen before is replayed as one CUDA graph ({@link LaunchQueue}); the results are those of
     * running {@code work} directly. Without graphs: {@code work.run()}.
     */
    default void replayable(Runnable work) { work.run(); }

    /** Graph launches, captures and eager launches so far ({@link LaunchQueue.Stats#NONE} without graphs). */
    default LaunchQueue.Stats graphStats() { return LaunchQueue.Stats.NONE; }
}
