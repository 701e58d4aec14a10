package dev.speedrun.kernels.cuda;

import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;

/** Checks driver results and exposes the raw handles JCuda keeps protected. */
final class Cu {
    private Cu() {}

    /** Throws naming the call and the CUDA error (e.g. CUDA_ERROR_OUT_OF_MEMORY) when rc ≠ CUDA_SUCCESS. */
    static void check(String call, int rc) {
        if (rc != CUresult.CUDA_SUCCESS) throw new CudaException(call + " failed: " + CUresult.stringFor(rc) + " (" + rc + ")");
    }

    /**
     * As {@link #check(String, int)}, building the message only on failure (the hot paths: a
     * launch or copy must not concatenate strings each call).
     */
    static void check(int rc, java.util.function.Supplier<String> call) {
        if (rc != CUresult.CUDA_SUCCESS) throw new CudaException(call.get() + " failed: " + CUresult.stringFor(rc) + " (" + rc + ")");
    }

    /** A driver error with its name. */
    static final class CudaException extends RuntimeException {
        CudaException(String msg) { super(msg); }
    }

    /** Device memory allocated with cuMemAlloc whose raw address can be handed to FFM. */
    static final class DevPtr extends CUdeviceptr {
        long address() { return getNativePointer() + getByteOffset(); }
    }

    /** A stream whose raw handle (cudaStream_t) can be handed to cuBLASLt and NCCL. */
    static final class Stream extends CUstream {
        long handle() { return getNativePointer(); }
    }
}
