package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.tensor.BFloat16;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.Backends;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Gpu;
import java.util.Random;

/**
 * Shared set-up of the GPU tests: skips (with the reason) when there is no usable GPU, kernels or
 * CPU ops; makes pairs of tensors holding the same values on the CPU and the GPU.
 *
 * <p>Tolerances (documented per dtype of the GPU tensors): an element passes when
 * {@code |gpu − cpu| ≤ rtol·(|cpu| + rms(cpu))} with rtol 1e-5 for F32 elementwise ops, 1e-4 for
 * F32 ops with long reductions (norms, attention, cross-entropy, GEMM), 1e-2 for BF16 and 2e-2 for
 * BF16 ops with reductions. NaN or infinity on the GPU side never passes. Forward outputs are
 * poisoned with NaN before the GPU op, so an element the kernel does not write fails.
 */
final class GpuTestSupport implements AutoCloseable {
    final Backend gpuBackend;
    final Ops cpu, gpu;
    final MemoryArena cpuArena, gpuArena;
    final Random rnd;

    private GpuTestSupport(long seed, Backend gpuBackend, java.util.function.Function<Backend, Ops> gpuOps) {
        this.gpuBackend = gpuBackend;
        Ops c;
        try {
            c = Kernels.cpu();
        } catch (RuntimeException e) {
            c = null;
        }
        assumeTrue(c != null, "the CPU ops (OpsProvider 'cpu') are not on the classpath; they are the reference");
        cpu = c;
        gpu = gpuOps.apply(gpuBackend);
        Backend cb = Backends.cpu();
        cpuArena = cb.newArena();
        gpuArena = gpuBackend.newArena();
        rnd = new Random(seed);
    }

    /** The real GPU; skips with the reason when there is none or the build has no kernels. */
    static GpuTestSupport open(long seed) {
        Gpu.usableOrSkip(CudaBackend.NAME);
        return new GpuTestSupport(seed, new CudaBackend(), b -> Kernels.ops("cuda"));
    }

    /** The emulated CUDA device (the same kernels and CudaOps on the CPU); skips when it was not built. */
    static GpuTestSupport openEmu(long seed, dev.speedrun.kernels.cuda.emu.EmuDevice.Options options) {
        String why = dev.speedrun.kernels.cuda.emu.EmuLibrary.problem(dev.speedrun.kernels.cuda.emu.EmuLibrary.MAIN);
        assumeTrue(why.isEmpty(), why);
        dev.speedrun.kernels.cuda.emu.EmuBackend b = new dev.speedrun.kernels.cuda.emu.EmuBackend();
        return new GpuTestSupport(seed, b, x -> new CudaOps(new dev.speedrun.kernels.cuda.emu.EmuDevice(b, options)));
    }

    /** The device under test. */
    CudaDevice device() { return ((CudaOps) gpu).device(); }

    /** The same tensor on both sides (cpu dtype may differ from the GPU dtype). */
    record Pair(Tensor cpu, Tensor gpu) {
        Tensor of(boolean gpuSide) { return gpuSide ? gpu : cpu; }
    }

    /** Round a value to a dtype as the GPU tensor stores it. */
    static double round(double v, DType dt) {
        return switch (dt) {
            case BF16 -> BFloat16.toFloat(BFloat16.fromFloat((float) v));
            case F32 -> (float) v;
            default -> v;
        };
    }

    Pair pair(DType gpuDt, DType cpuDt, double[] values, long... dims) {
        Tensor c = cpuArena.allocate(cpuDt, dims), g = gpuArena.allocate(gpuDt, dims);
        double[] r = values.clone();
        for (int i = 0; i < r.length; i++) r[i] = round(round(r[i], gpuDt), cpuDt);
        HostData.write(c, r);
        HostData.write(g, r);
        return new Pair(c, g);
    }

    /** Gaussian values times {@code scale}, rounded to the GPU dtype, on both sides. */
    Pair input(DType gpuDt, double scale, long... dims) {
        long n = 1;
        for (long d : dims) n *= d;
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = rnd.nextGaussian() * scale;
        return pair(gpuDt, cpuDtypeFor(gpuDt), v, dims);
    }

    Pair ints(int bound, long... dims) {
        long n = 1;
        for (long d : dims) n *= d;
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = rnd.nextInt(bound);
        return pair(DType.I32, DType.I32, v, dims);
    }

    Pair ints(int[] values) {
        double[] v = new double[values.length];
        for (int i = 0; i < v.length; i++) v[i] = values[i];
        return pair(DType.I32, DType.I32, v, values.length);
    }

    /** A forward output: zero on the CPU, NaN-poisoned on the GPU. */
    Pair output(DType gpuDt, long... dims) {
        Tensor c = cpuArena.allocate(cpuDtypeFor(gpuDt), dims), g = gpuArena.allocate(gpuDt, dims);
        gpu.fill(g, Double.NaN);
        return new Pair(c, g);
    }

    /** CPU reference dtype: F32 (the GPU's BF16 values are exact in F32). */
    static DType cpuDtypeFor(DType gpuDt) { return gpuDt == DType.I32 ? DType.I32 : DType.F32; }

    /** Runs {@code op} on both backends. */
    void both(java.util.function.BiConsumer<Ops, Boolean> op) {
        op.accept(cpu, false);
        op.accept(gpu, true);
        gpuBackend.synchronize();
    }

    static double rtol(DType gpuDt, boolean reduction) {
        if (gpuDt == DType.BF16) return reduction ? 2e-2 : 1e-2;
        return reduction ? 1e-4 : 1e-5;
    }

    /** Compares the GPU tensor with the CPU one under the documented tolerance. */
    static void check(String what, Pair p, double rtol) {
        double[] c = HostData.toDoubles(p.cpu()), g = HostData.toDoubles(p.gpu());
        double ss = 0;
        for (double v : c) ss += v * v;
        double rms = Math.sqrt(ss / Math.max(1, c.length));
        int bad = 0;
        String first = null;
        for (int i = 0; i < c.length; i++) {
            double err = Math.abs(g[i] - c[i]);
            if (!Double.isFinite(g[i]) || !(err <= rtol * (Math.abs(c[i]) + rms))) {
                if (first == null) first = "element " + i + ": gpu " + g[i] + " vs cpu " + c[i];
                bad++;
            }
        }
        assertTrue(bad == 0, what + ": " + bad + " of " + c.length + " elements outside rtol " + rtol + " (rms " + rms + "); first " + first);
    }

    @Override public void close() {
        gpuBackend.synchronize();
        gpuArena.close();
        cpuArena.close();
    }
}
