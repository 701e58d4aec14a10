package dev.speedrun.kernels.cuda.emu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.speedrun.kernels.cuda.CudaOps;
import dev.speedrun.kernels.cuda.DeviceObserver.HostSync;
import dev.speedrun.kernels.cuda.DeviceRates;
import dev.speedrun.kernels.cuda.Kernel;
import dev.speedrun.kernels.cuda.LaunchProfile;
import dev.speedrun.kernels.DeviceProfile.Phase;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The launch profile on the emulated device against the emulator's own counts: launches per
 * kernel as emu_launch counted them, GEMM calls and FLOPs as the cuBLASLt reference counted them;
 * host waits counted for readbacks and synchronous uploads and not for asynchronous ones, whose
 * data arrives in stream order.
 */
class LaunchProfileEmuTest {
    private static EmuLibrary lib() {
        String why = EmuLibrary.problem(EmuLibrary.MAIN);
        assumeTrue(why.isEmpty(), why);
        return EmuLibrary.main();
    }

    @Test void countsMatchTheEmulatorsOwn() {
        EmuLibrary lib = lib();
        EmuBackend backend = new EmuBackend();
        EmuDevice d2 = new EmuDevice(backend, EmuDevice.Options.DEFAULT);
        CudaOps ops2 = new CudaOps(d2);
        try (MemoryArena arena = backend.newArena()) {
            int T = 24, C = 32, N = 48;
            Tensor x = arena.allocate(DType.BF16, T, C), w = arena.allocate(DType.BF16, N, C), y = arena.allocate(DType.F32, T, N);
            Tensor xf = arena.allocate(DType.F32, T, C), wf = arena.allocate(DType.F32, N, C), yf = arena.allocate(DType.F32, T, N);
            Tensor rrms = arena.allocate(DType.F32, T), s = arena.allocate(DType.F32, 1);
            LaunchProfile profile = new LaunchProfile(d2.name(), DeviceRates.forDevice(d2.name()));
            Map<Kernel, Long> before = counts(lib);
            double[] gemmBefore = lib.cublasLtCounts();
            d2.observe(profile);
            profile.phase(Phase.MICRO_STEP);
            ops2.fill(x, 0.5);
            ops2.fill(w, 0.25);
            ops2.rmsNorm(x, rrms, x);
            ops2.matmul(y, x, w, false, true, 1, 0);
            ops2.convert(xf, x);
            ops2.convert(wf, w);
            ops2.matmul(yf, xf, wf, false, true, 1, 1);
            ops2.sumSquares(s, yf, false);
            profile.endMicroStep(T);
            d2.observe(null);
            Map<Kernel, Long> after = counts(lib);
            double[] gemmAfter = lib.cublasLtCounts();
            long emuLaunches = 0;
            Map<String, Long> emuByFamily = new java.util.TreeMap<>();
            for (Kernel k : Kernel.values()) {
                long n = after.get(k) - before.get(k);
                emuLaunches += n;
                if (n > 0) emuByFamily.merge(k.module(), n, Long::sum);
            }
            long gemmCalls = Math.round(gemmAfter[0] - gemmBefore[0]);
            assertEquals(emuLaunches + gemmCalls, profile.totals(Phase.MICRO_STEP).launches(), "launches: kernels + cuBLASLt calls");
            for (var e : emuByFamily.entrySet())
                assertEquals(e.getValue(), profile.family(Phase.MICRO_STEP, e.getKey()).launches(), e.getKey());
            assertEquals(gemmCalls, profile.family(Phase.MICRO_STEP, "cublaslt").launches());
            double gemmFlops = gemmAfter[1] - gemmBefore[1];
            assertEquals(2.0 * 2 * T * N * C, gemmFlops, "the emulator counted both GEMMs");
            assertEquals(gemmFlops, profile.family(Phase.MICRO_STEP, "cublaslt").flops(), 1e-9 * gemmFlops);
            assertEquals(0.5, profile.gemmFlopFraction(dev.speedrun.kernels.cuda.KernelCost.GemmClass.F32), 1e-12);
        } finally {
            d2.close();
        }
    }

    private static Map<Kernel, Long> counts(EmuLibrary lib) {
        Map<Kernel, Long> m = new EnumMap<>(Kernel.class);
        for (Kernel k : Kernel.values()) m.put(k, lib.launchCount(k.cName()));
        return m;
    }

    @Test void hostWaitsAreCountedAndAsyncUploadsArriveInOrder() {
        lib();
        EmuBackend backend = new EmuBackend();
        EmuDevice device = new EmuDevice(backend, EmuDevice.Options.DEFAULT);
        CudaOps ops = new CudaOps(device);
        Map<HostSync, Long> seen = new EnumMap<>(HostSync.class);
        device.observe(new dev.speedrun.kernels.cuda.DeviceObserver() {
            @Override public void launch(Kernel kernel, dev.speedrun.kernels.cuda.CudaDevice.Dim3 grid,
                                         dev.speedrun.kernels.cuda.CudaDevice.Dim3 block, Object[] args) {}
            @Override public void gemm(Gemm gemm) {}
            @Override public void hostSync(HostSync kind) { seen.merge(kind, 1L, Long::sum); }
        });
        try (MemoryArena arena = backend.newArena(); Arena host = Arena.ofConfined()) {
            Tensor t = arena.allocate(DType.I32, 4), f = arena.allocate(DType.F32, 4);
            MemorySegment src = host.allocate(16, 8);
            int[] first = {1, 2, 3, 4}, second = {5, 6, 7, 8};
            MemorySegment.copy(first, 0, src, ValueLayout.JAVA_INT, 0, 4);
            backend.copyFromHostAsync(t, src);
            // the staged bytes were taken at the call: overwriting the host buffer does not change the upload
            MemorySegment.copy(second, 0, src, ValueLayout.JAVA_INT, 0, 4);
            ops.tokenMask(f, t, 3, 1, 0);    // queued after the upload: sees it
            assertEquals(Map.of(), seen, "an asynchronous upload makes no host wait");
            assertArrayEquals(new double[] {0, 0, 1, 0}, HostData.toDoubles(f));
            assertEquals(Map.of(HostSync.COPY_TO_HOST, 1L), seen);
            backend.copyFromHost(t, src);
            device.synchronize();
            assertArrayEquals(second, HostData.toInts(t));
            assertEquals(Map.of(HostSync.COPY_TO_HOST, 2L, HostSync.COPY_FROM_HOST, 1L, HostSync.STREAM_SYNCHRONIZE, 1L), seen);
        } finally {
            device.close();
        }
    }
}
