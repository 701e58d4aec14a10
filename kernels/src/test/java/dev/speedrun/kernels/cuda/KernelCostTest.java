package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.cuda.FakeDevice.Launch;
import dev.speedrun.tensor.DType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The cost functions of {@link KernelCost}: one for every kernel of the table, finite and
 * non-negative for every launch every op makes ({@link CudaOpsLaunchTest#runAll}), GEMMs by their
 * operand class with FLOPs from the tensors' shapes; the peak-rate table; the profile's JSON.
 */
class KernelCostTest {
    @Test void everyKernelHasACostFunction() {
        for (Kernel k : Kernel.values()) assertTrue(KernelCost.covers(k), k.cName() + " has no cost function in KernelCost");
    }

    @Test void everyLaunchOfEveryOpHasAFiniteCost() {
        for (DType act : List.of(DType.F32, DType.BF16)) {
            FakeDevice dev = new FakeDevice(null);
            LaunchProfile profile = new LaunchProfile(dev.name(), DeviceRates.H200);
            profile.phase(LaunchProfile.Phase.MICRO_STEP);
            dev.observe(profile);
            Map<String, List<Launch>> byOp = CudaOpsLaunchTest.runAll(dev, act);
            long launches = byOp.values().stream().mapToLong(List::size).sum();
            assertEquals(launches, profile.totals(LaunchProfile.Phase.MICRO_STEP).launches(), "every launch reaches the observer");
            for (List<Launch> ls : byOp.values())
                for (Launch l : ls) {
                    KernelCost.Cost c = KernelCost.of(l.kernel(), l.grid(), l.args(), null);
                    assertTrue(Double.isFinite(c.flops()) && c.flops() >= 0 && Double.isFinite(c.bytes()) && c.bytes() > 0,
                            l.kernel().cName() + ": " + c);
                    assertEquals(isGemm(l.kernel()), c.gemm() != null, l.kernel().cName());
                }
            // the kernel GEMMs' FLOPs are 2·batch·m·n·k of the shapes the launch table reports (the FP8
            // kernel has no batch: its grid z is 1)
            double gemm = 0;
            for (Launch l : byOp.values().stream().flatMap(List::stream).filter(l -> isGemm(l.kernel())).toList())
                gemm += 2.0 * l.grid().z() * ((Integer) l.arg("M")) * ((Integer) l.arg("N")) * ((Integer) l.arg("K"));
            double counted = 0;
            for (KernelCost.GemmClass g : KernelCost.GemmClass.values()) counted += profile.gemmFlops(LaunchProfile.Phase.MICRO_STEP, g);
            assertEquals(gemm, counted, 1e-9 * gemm);
        }
    }

    private static boolean isGemm(Kernel k) { return k == Kernel.MATMUL_TILED || k == Kernel.MATMUL_FP8; }

    @Test void gemmsAreClassifiedByTheirOperands() {
        assertEquals(KernelCost.GemmClass.FP8, KernelCost.GemmClass.of(DType.FP8_E4M3, DType.FP8_E5M2));
        assertEquals(KernelCost.GemmClass.BF16, KernelCost.GemmClass.of(DType.BF16, DType.BF16));
        assertEquals(KernelCost.GemmClass.F32, KernelCost.GemmClass.of(DType.F32, DType.F32));
        assertEquals(KernelCost.GemmClass.OTHER, KernelCost.GemmClass.of(DType.BF16, DType.F32));
        var g = new DeviceObserver.Gemm(3, 5, 7, 11, DType.BF16, DType.BF16, DType.F32, true);
        KernelCost.Cost c = KernelCost.of(g);
        assertEquals(2.0 * 3 * 5 * 7 * 11, c.flops());
        // a [5,11] and [11,7] BF16, out [5,7] F32 read and written, per batch entry
        assertEquals(3.0 * (5 * 11 * 2 + 11 * 7 * 2 + 5 * 7 * 4 * 2), c.bytes());
    }

    @Test void ratesArePickedByDeviceName() {
        assertEquals(DeviceRates.H200.name(), DeviceRates.forDevice("NVIDIA H200").name());
        assertEquals(DeviceRates.H100_SXM.name(), DeviceRates.forDevice("NVIDIA H100 80GB HBM3").name());
        assertEquals(DeviceRates.H100_PCIE.name(), DeviceRates.forDevice("NVIDIA H100 PCIe").name());
        assertEquals(DeviceRates.A100.name(), DeviceRates.forDevice("NVIDIA A100-SXM4-80GB").name());
        DeviceRates other = DeviceRates.forDevice("cuda-emu (emulated sm_90)");
        assertEquals(DeviceRates.H200.bf16(), other.bf16());
        assertTrue(other.source().contains("not in the table"), other.source());
        // memory-bound work is timed by bandwidth, compute-bound by the FLOP rate of its class
        KernelCost.Cost copy = new KernelCost.Cost(0, 4.8e12, null);
        assertEquals(1.0, DeviceRates.H200.seconds(copy), 1e-12);
        KernelCost.Cost bf16 = new KernelCost.Cost(989e12, 1, KernelCost.GemmClass.BF16);
        assertEquals(1.0, DeviceRates.H200.seconds(bf16), 1e-12);
        KernelCost.Cost fp8OnA100 = new KernelCost.Cost(312e12, 1, KernelCost.GemmClass.FP8);
        assertEquals(1.0, DeviceRates.A100.seconds(fp8OnA100), 1e-12);
    }

    @Test void writesTheJsonAtomically(@TempDir Path dir) throws IOException {
        LaunchProfile p = new LaunchProfile("x\"y", DeviceRates.H200);
        p.phase(LaunchProfile.Phase.MICRO_STEP);
        p.gemm(new DeviceObserver.Gemm(1, 4, 4, 4, DType.F32, DType.F32, DType.F32, false));
        p.gemm(new DeviceObserver.Gemm(1, 4, 4, 4, DType.BF16, DType.BF16, DType.F32, false));
        p.endMicroStep(4);
        p.phase(LaunchProfile.Phase.OTHER);
        p.hostSync(DeviceObserver.HostSync.COPY_TO_HOST);
        p.endStep();
        Path f = dir.resolve("sub/profile.json");
        p.write(f);
        String s = Files.readString(f);
        assertTrue(s.contains("\"device\": \"x\\\"y\""), s);
        assertTrue(s.contains("\"launches_per_micro_step\": 2,"), s);
        assertTrue(s.contains("\"host_syncs_per_step\": 1,"), s);
        assertTrue(s.contains("\"f32_gemm_flop_fraction\": 0.5"), s);
        try (var files = Files.list(f.getParent())) {
            assertEquals(List.of(f), files.toList(), "no temporary file left next to the profile");
        }
    }
}
