package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.Backends;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.ReferenceGemm;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link CublasLtGemm} end to end against a host-memory stand-in of libcublasLt (test resource
 * stubs/cublaslt_stub.c, compiled here with gcc and loaded as libcublasLt.so.13): every FFM
 * signature, descriptor attribute, layout and the operand order of the row-major plan are
 * exercised, and the stub's column-major result must equal the row-major product. Skipped when
 * gcc is not installed.
 */
class CublasLtStubTest {
    static Path compileStub(Path dir, String resource, String soname) throws IOException, InterruptedException {
        Path src = dir.resolve(resource);
        try (InputStream in = CublasLtStubTest.class.getResourceAsStream("/stubs/" + resource)) {
            assertTrue(in != null, "missing test resource stubs/" + resource);
            Files.copy(in, src);
        }
        Path so = dir.resolve(soname);
        Process p;
        try {
            p = new ProcessBuilder("gcc", "-shared", "-fPIC", "-O1", "-o", so.toString(), src.toString()).redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "gcc is not available to build the " + resource + " stand-in: " + e.getMessage());
            return null;
        }
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), "gcc failed on " + resource + ":\n" + out);
        return so;
    }

    @Test void rowMajorGemmsThroughTheBindings(@TempDir Path dir) throws Exception {
        compileStub(dir, "cublaslt_stub.c", "libcublasLt.so.13");
        CublasLt lt = CublasLt.load(List.of(dir));
        assertEquals(130100, lt.version());
        Backend cpu = Backends.cpu();
        Random rnd = new Random(11);
        try (Arena ws = Arena.ofConfined(); MemoryArena arena = cpu.newArena()) {
            MemorySegment workspace = ws.allocate(1024, 256);
            CublasLtGemm gemm = new CublasLtGemm(lt, 0, workspace.address(), workspace.byteSize(), 90);
            int M = 7, N = 5, K = 6, B = 3;
            for (DType in : new DType[] {DType.F32, DType.BF16})
                for (DType outType : new DType[] {DType.F32, DType.BF16})
                    for (boolean ta : new boolean[] {false, true})
                        for (boolean tb : new boolean[] {false, true})
                            for (int batch : new int[] {1, B}) {
                                if (!CublasLtGemm.supported(outType, in, in)) continue;
                                Tensor a = batch == 1 ? (ta ? arena.allocate(in, K, M) : arena.allocate(in, M, K))
                                        : (ta ? arena.allocate(in, batch, K, M) : arena.allocate(in, batch, M, K));
                                Tensor b = batch == 1 ? (tb ? arena.allocate(in, N, K) : arena.allocate(in, K, N))
                                        : (tb ? arena.allocate(in, batch, N, K) : arena.allocate(in, batch, K, N));
                                Tensor out = batch == 1 ? arena.allocate(outType, M, N) : arena.allocate(outType, batch, M, N);
                                double[] av = fill(a, rnd), bv = fill(b, rnd), ov = fill(out, rnd);
                                String tag = in + "→" + outType + " transA=" + ta + " transB=" + tb + " batch=" + batch;
                                assertTrue(gemm.matmul(out, a, b, ta, tb, 1.25, 0.5), tag);
                                double[] got = HostData.toDoubles(out);
                                double[] want = ReferenceGemm.matmul(av, bv, ov, batch, M, N, K, ta, tb, 1.25, 0.5);
                                for (int e = 0; e < want.length; e++) {
                                    double tol = outType == DType.BF16 ? 1e-2 * (Math.abs(want[e]) + 1) : 1e-5 * (Math.abs(want[e]) + 1);
                                    assertEquals(want[e], got[e], tol, tag + " at flat index " + e);
                                }
                            }
            assertFalse(gemm.matmul(arena.allocate(DType.F32, 2, 2), arena.allocate(DType.BF16, 2, 2), arena.allocate(DType.F32, 2, 2), false, false, 1, 0),
                    "mixed inputs are left to the kernel GEMM");
            gemm.close();
        }
    }

    @Test void statusesAreReportedByName(@TempDir Path dir) throws Exception {
        compileStub(dir, "cublaslt_stub.c", "libcublasLt.so.13");
        CublasLt lt = CublasLt.load(List.of(dir));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> lt.check("cublasLtMatmul(test)", 7));
        assertTrue(e.getMessage().contains("cublasLtMatmul(test) failed: CUBLAS_STATUS_INVALID_VALUE (7)"), e.getMessage());
    }

    private static double[] fill(Tensor t, Random rnd) {
        double[] v = new double[(int) t.numel()];
        for (int i = 0; i < v.length; i++) v[i] = GpuTestSupport.round(rnd.nextGaussian(), t.dtype());
        HostData.write(t, v);
        return HostData.toDoubles(t);
    }
}
