package dev.speedrun.kernels.cuda;

import dev.speedrun.kernels.cuda.CudaDevice.Dim3;
import dev.speedrun.tensor.DType;

/**
 * Sees what a {@link CudaDevice} is asked to do, for profiling ({@link LaunchProfile}): every
 * kernel launch with its arguments, every vendor GEMM with its sizes and dtypes, and every call
 * that makes the host wait for the device. Called on the thread that issues the work, before it
 * is queued; an observer must not launch work itself.
 */
public interface DeviceObserver {
    /** A call that blocks the host until (part of) the device's queued work is done. */
    enum HostSync {
        /** cuStreamSynchronize / cuCtxSynchronize: everything queued. */
        STREAM_SYNCHRONIZE,
        /** A synchronous device-to-host copy (a readback). */
        COPY_TO_HOST,
        /** A synchronous host-to-device copy (waits for the stream first, then for the copy). */
        COPY_FROM_HOST,
        /** cuEventSynchronize: waiting for a recorded point of the queue. */
        EVENT_SYNCHRONIZE
    }

    /**
     * One cuBLASLt GEMM {@code out[batch, m, n] (+)= op(a)[m, k]·op(b)[k, n]} in the row-major terms
     * of {@link GemmShape}; {@code accumulate} when beta ≠ 0 (out is read too).
     */
    record Gemm(long batch, long m, long n, long k, DType a, DType b, DType out, boolean accumulate) {}

    /** {@code kernel} launched over {@code grid} × {@code block} with {@code args} (already checked against the table). */
    void launch(Kernel kernel, Dim3 grid, Dim3 block, Object[] args);

    /** A GEMM run by the vendor library (one launch of the library's own kernels). */
    void gemm(Gemm gemm);

    /** The host waited for the device. */
    void hostSync(HostSync kind);

    /**
     * How work reached the driver ({@link LaunchQueue}, docs/cuda.md "CUDA graphs"): the calls above
     * report what was asked for, these what was sent.
     */
    enum DriverCall {
        /** One kernel launch or cuBLASLt GEMM sent on its own (outside a region, or a segment not replayed). */
        EAGER_LAUNCH,
        /** A segment captured as a graph (its launches are recorded, not run; a GRAPH_LAUNCH follows). */
        GRAPH_CAPTURE,
        /** A cached graph launched: one driver call for a whole segment. */
        GRAPH_LAUNCH
    }

    /** A driver-level call was made; by default ignored. */
    default void driverCall(DriverCall call) {}
}
