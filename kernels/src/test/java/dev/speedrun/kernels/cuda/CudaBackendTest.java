package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.OpsProvider;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.Backends;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;

/** The "cuda" backend where there is no GPU: registered, never throws from isAvailable, says what is missing. */
class CudaBackendTest {
    @Test void registeredWithServiceLoader() {
        Backend b = Backends.get("cuda");
        assertInstanceOf(CudaBackend.class, b);
        boolean provider = false;
        for (OpsProvider p : ServiceLoader.load(OpsProvider.class)) provider |= p instanceof CudaOpsProvider;
        assertTrue(provider, "CudaOpsProvider is registered in META-INF/services");
    }

    @Test void probeIsRememberedAndNeverThrows() {
        CudaBackend b = new CudaBackend();
        boolean first = b.isAvailable();
        assertSame(CudaBackend.probe(), CudaBackend.probe());
        assertTrue(first == b.isAvailable());
        if (!first) assertFalse(b.unavailableReason().isBlank(), "an unavailable backend says why");
    }

    @Test void withoutDriverTheMessageNamesLibcudaAndTheCpuBackend() {
        CudaBackend.Probe p = CudaBackend.probe();
        assumeFalse(p.ok(), "a CUDA driver is present here; this test is for machines without one");
        CudaBackend b = new CudaBackend();
        assertFalse(b.isAvailable());
        String why = b.unavailableReason();
        assertTrue(why.contains("libcuda.so.1") || why.contains("cuInit") || why.contains("driver"), why);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Kernels.ops("cuda"));
        assertTrue(e.getMessage().contains(why) && e.getMessage().contains("--backend cpu"), e.getMessage());
        IllegalStateException alloc = assertThrows(IllegalStateException.class, () -> b.allocate(16));
        assertTrue(alloc.getMessage().contains("--backend cpu works") && alloc.getMessage().contains(why), alloc.getMessage());
    }

    @Test void backendsOfTheSameGpuAreEqual() {
        assertTrue(new CudaBackend().equals(CudaBackend.forDevice(Integer.getInteger("speedrun.cuda.device", 0))));
        assertFalse(CudaBackend.forDevice(0).equals(CudaBackend.forDevice(1)));
    }

    @Test void linkErrorsBecomeOneSentence() {
        UnsatisfiedLinkError noDriver = new UnsatisfiedLinkError("Error while loading native library \"JCudaDriver-12.0.0-linux-x86_64\"\n"
                + "Stack trace from the attempt to load the library as a resource:\n"
                + "java.lang.UnsatisfiedLinkError: /tmp/libJCudaDriver-12.0.0-linux-x86_64.so: libcuda.so.1: cannot open shared object file: No such file or directory");
        String msg = CudaBackend.linkFailure(noDriver);
        assertTrue(msg.startsWith("no NVIDIA driver") && msg.contains("libcuda.so.1: cannot open shared object file"), msg);
        String other = CudaBackend.linkFailure(new UnsatisfiedLinkError("no JCudaDriver-12.0.0-linux-aarch64 in java.library.path"));
        assertTrue(other.startsWith("JCuda's native driver binding") && other.contains("aarch64"), other);
    }
}
