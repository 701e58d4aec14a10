package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.speedrun.kernels.cuda.CudaDevice;
import dev.speedrun.kernels.cuda.CudaOps;
import dev.speedrun.kernels.cuda.Gemm;
import dev.speedrun.kernels.cuda.Kernel;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.losses.LossFunctions;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.Precision;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.optim.StepPlan;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Shape;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.FakeDeviceMemory;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The model's and the optimizers' calls through {@link CudaOps} on a recording stand-in device (no
 * GPU): fake device addresses, transfers that only check their range, and every launch validated
 * (argument kinds against the kernel table, launch limits, every pointer inside an allocation).
 * GEMMs go to a recording cuBLASLt stand-in that checks what the real one needs: a dtype mix it
 * serves (BF16·BF16 → BF16/F32, F32·F32 → F32; anything else would silently fall back to the slow
 * tiled kernel), 16-byte aligned pointers and leading dimensions. Catches argument mistakes (an
 * F64 or BF16 statistic where the kernels need F32, a wrong rank, an unaligned view) before a GPU
 * session.
 */
class ModelOnRecordingCudaTest {
    static Stream<Precision> precisions() { return Stream.of(Precision.uniform(DType.F32), Precision.MIXED); }

    @ParameterizedTest(name = "{0}")
    @MethodSource("precisions")
    void forwardBackwardAndOptimizerStepLaunchCleanly(Precision precision) {
        RecordingDevice dev = new RecordingDevice();
        CudaOps ops = new CudaOps(dev);
        GptConfig cfg = GptConfig.preset("cpu-small");
        int T = 96;
        int[] in = new int[T], tg = new int[T];
        for (int i = 0; i < T; i++) { in[i] = (i * 37) % cfg.vocabSize(); tg[i] = (i * 53 + 1) % cfg.vocabSize(); }
        int[] cu = {0, 40, 96, 96};
        LossFunction loss = LossFunctions.defaultLoss();
        boolean mixed = precision.specParamDTypes();
        try (Gpt gpt = new Gpt(cfg, ops, precision, T, 1, 5);
             Optimizers opt = RecordOptimizers.build(gpt, ops, precision)) {
            assertEquals(mixed, gpt.fp8Head(), "the record's FP8 LM head runs in mixed precision (cc 9.0, a cuBLASLt stand-in)");
            opt.zeroAllGrads();
            for (int step = 0; step < 2; step++) {
                gpt.setSplitEmbed(step == 1);
                gpt.forwardBackward(in, tg, cu, 1, 3, loss, new double[] {1, 0.5, 0.25}, 0.5);
                opt.step(StepPlan.record(step, 1.0, 0.95, Set.of()));
            }
            gpt.evaluate(in, tg, cu, 1, 3, loss);
        }
        assertTrue(dev.launches.size() > 100, "only " + dev.launches.size() + " launches");
        assertTrue(dev.gemms.size() > 20, "only " + dev.gemms.size() + " GEMMs reached cuBLASLt");
        // the FP8 head's products: operands quantised into scratch, then (the stand-in is not cuBLASLt) the matmul_fp8 kernel
        assertEquals(mixed ? 6 : 0, dev.launches.stream().filter(k -> k == Kernel.MATMUL_FP8).count(), "FP8 head GEMMs: 3 per step, 2 steps");
        assertEquals(mixed ? 12 : 0, dev.launches.stream().filter(k -> k == Kernel.QUANTIZE_FP8).count(), "two quantised operands per FP8 GEMM");
        assertEquals(List.of(), dev.gemmProblems, "GEMMs cuBLASLt would not take as the model needs them");
        TreeMap<String, Integer> mixes = new TreeMap<>();
        for (String g : dev.gemms) mixes.merge(g, 1, Integer::sum);
        // mixed precision: every GEMM on BF16 operands (tensor cores), Polar Express included (the record's BF16 polar_express)
        if (mixed) assertTrue(mixes.keySet().stream().allMatch(k -> k.startsWith("BF16·BF16")), mixes.toString());
        else assertEquals(Set.of("F32·F32→F32"), mixes.keySet());
        System.out.printf("%s on the recording CUDA device: %d kernel launches, GEMMs by dtype %s; rows not a multiple of 16 bytes: %s%n",
                precision.name(), dev.launches.size(), mixes, dev.narrowRows);
    }

    /** A CUDA device that records and validates instead of running. */
    static final class RecordingDevice implements CudaDevice {
        final List<Kernel> launches = new ArrayList<>();
        final List<String> gemms = new ArrayList<>();
        final List<String> gemmProblems = new ArrayList<>();
        /** Distinct GEMMs whose rows are not a multiple of 16 bytes (cuBLASLt may find no algorithm: tiled-kernel fallback). */
        final java.util.Set<String> narrowRows = new java.util.TreeSet<>();
        private final List<Tensor> scratch = new ArrayList<>();

        /** Copies are let through (reads see zeros) when they stay inside an allocation. */
        final FakeDeviceMemory backend = new FakeDeviceMemory("recording-cuda") {
            @Override public void copyFromHost(Tensor dst, MemorySegment src) { inside(dst, "copyFromHost"); }
            @Override public void copyToHost(MemorySegment dst, Tensor src) { inside(src, "copyToHost"); }
            @Override public void copy(Tensor dst, Tensor src) { inside(dst, "copy"); inside(src, "copy"); }
        };

        private void inside(Tensor t, String what) {
            if (!backend.contains(t.address(), t.address() + t.byteSize())) fail(what + ": " + t + " is outside every allocation");
        }

        @Override public Backend backend() { return backend; }

        @Override public int computeCapability() { return 90; }

        @Override public String name() { return "recording H200"; }

        private dev.speedrun.kernels.cuda.DeviceObserver observer;

        @Override public void observe(dev.speedrun.kernels.cuda.DeviceObserver o) { observer = o; }

        @Override public void launch(Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
            kernel.checkArgs(args);
            if (observer != null) observer.launch(kernel, grid, block, args);
            long threads = (long) block.x() * block.y() * block.z();
            assertTrue(threads <= 1024 && threads % 32 == 0, kernel + ": block " + block);
            assertTrue(grid.x() >= 1 && grid.y() >= 1 && grid.y() <= 65535 && grid.z() <= 65535, kernel + ": grid " + grid);
            for (int i = 0; i < args.length; i++) {
                if (kernel.params().get(i) != Kernel.Arg.PTR) continue;
                long a = ((Kernel.Ptr) args[i]).address();
                if (a == 0) continue;
                if (!backend.contains(a))
                    fail(kernel + " argument " + kernel.paramNames().get(i) + " points outside every allocation");
            }
            launches.add(kernel);
        }

        @Override public Tensor scratch(int slot, long floats) {
            while (scratch.size() <= slot) scratch.add(null);
            Tensor t = scratch.get(slot);
            if (t == null || t.numel() < floats) {
                t = new Tensor(backend.allocate(Math.max(1, floats) * 4), DType.F32, 0, Shape.of(Math.max(1, floats)));
                scratch.set(slot, t);
            }
            return t;
        }

        @Override public Gemm gemm() {
            return (out, a, b, transA, transB, alpha, beta) -> {
                String mix = a.dtype() + "·" + b.dtype() + "→" + out.dtype();
                boolean served = a.dtype() == b.dtype()
                        && (a.dtype() == DType.BF16 ? out.dtype() == DType.BF16 || out.dtype() == DType.F32
                                                    : a.dtype() == DType.F32 && out.dtype() == DType.F32);
                String call = mix + " out " + out.shape() + " a " + a.shape() + (transA ? "ᵀ" : "") + " b " + b.shape() + (transB ? "ᵀ" : "");
                if (!served) gemmProblems.add("unsupported dtype mix: " + call);
                for (Tensor t : new Tensor[] {out, a, b}) {
                    inside(t, "gemm");
                    if (t.address() % 16 != 0) gemmProblems.add("unaligned pointer: " + call);
                    if ((long) t.size(-1) * t.dtype().byteSize() % 16 != 0) {
                        narrowRows.add(call);
                        // only the tiny gate matrices (G = 12 columns) may be narrow; never a big one
                        if (t.numel() > 4096) gemmProblems.add("large GEMM with rows not a multiple of 16 bytes: " + call);
                    }
                }
                gemms.add(mix);
                return served;
            };
        }

        @Override public void synchronize() {}
    }
}
