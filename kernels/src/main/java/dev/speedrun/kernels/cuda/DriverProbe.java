package dev.speedrun.kernels.cuda;

import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * The only class that touches JCuda before the backend is known to work, so a missing native
 * library surfaces as one catchable error in {@link CudaBackend#probe()}.
 */
final class DriverProbe {
    private DriverProbe() {}

    static CudaBackend.Probe run() {
        JCudaDriver.setExceptionsEnabled(false);
        int rc = JCudaDriver.cuInit(0);
        if (rc != CUresult.CUDA_SUCCESS)
            return new CudaBackend.Probe(false, "cuInit failed with " + CUresult.stringFor(rc)
                    + " (the NVIDIA driver is installed but no usable GPU was found)", 0, 0);
        int[] v = new int[1];
        rc = JCudaDriver.cuDriverGetVersion(v);
        if (rc != CUresult.CUDA_SUCCESS)
            return new CudaBackend.Probe(false, "cuDriverGetVersion failed with " + CUresult.stringFor(rc), 0, 0);
        if (v[0] < CudaBackend.MIN_DRIVER_VERSION)
            return new CudaBackend.Probe(false, "the NVIDIA driver supports CUDA " + v[0] / 1000 + "." + (v[0] % 1000) / 10
                    + " but CUDA 12.0 or newer is needed (update the driver)", v[0], 0);
        int[] n = new int[1];
        rc = JCudaDriver.cuDeviceGetCount(n);
        if (rc != CUresult.CUDA_SUCCESS)
            return new CudaBackend.Probe(false, "cuDeviceGetCount failed with " + CUresult.stringFor(rc), v[0], 0);
        if (n[0] == 0) return new CudaBackend.Probe(false, "the NVIDIA driver reports no CUDA device", v[0], 0);
        return new CudaBackend.Probe(true, "", v[0], n[0]);
    }
}
