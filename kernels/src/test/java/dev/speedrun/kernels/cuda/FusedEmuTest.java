package dev.speedrun.kernels.cuda;

import static dev.speedrun.kernels.cuda.GpuTestSupport.check;
import static dev.speedrun.kernels.cuda.GpuTestSupport.rtol;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.cuda.GpuTestSupport.Pair;
import dev.speedrun.kernels.cuda.emu.EmuDevice;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Fixtures;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The fused kernels (fused.cu) on the emulated CUDA device: bit for bit the unfused kernels they
 * replace, run on the same device (what the model's switch to them relies on), and within the GPU
 * tolerances of the CPU's fused ops (inputs of the device dtype on both sides, so both store the
 * same rounded intermediates). Fused outputs are NaN-poisoned first, so an element not written
 * fails. Sizes: the tiny fixture model's, and the record's head dim (yarn fixture), whose rows are
 * longer than a warp.
 */
class FusedEmuTest {
    /** The device under test: the emulated one here, the GPU in {@link FusedGpuTest}. */
    GpuTestSupport open(long seed) { return GpuTestSupport.openEmu(seed, EmuDevice.Options.DEFAULT); }

    record Sizes(String name, int T, int H, int D, int C, double[] freqs) {}

    static List<Sizes> sizes() {
        JsonNode tiny = Fixtures.json("model_tiny.json"), c = tiny.get("config"), yarn = Fixtures.json("yarn_record178.json");
        int H = c.get("num_heads").asInt();
        return List.of(
                new Sizes("tiny", tiny.get("tokens").size(), H, c.get("head_dim").asInt(), c.get("model_dim").asInt(),
                        Fixtures.doubles(tiny.get("angular_freq"))),
                new Sizes("record head", yarn.get("block_size").asInt(), H, yarn.get("head_dim").asInt(), H * yarn.get("head_dim").asInt(),
                        Fixtures.doubles(yarn.get("states").get(0).get("angular_freq"))));
    }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void mixRmsNormIsTheUnfusedKernelsBitForBit(DType dt) {
        try (GpuTestSupport s = open(11)) {
            for (Sizes z : sizes()) {
                String at = z.name() + " " + dt;
                Pair x = input(s, dt, 3, z.T(), z.C()), y = input(s, dt, 3, z.T(), z.C());
                Pair a = s.pair(DType.F32, DType.F32, new double[] {1.1}, 1), b = s.pair(DType.F32, DType.F32, new double[] {-0.37}, 1);
                Pair out = output(s, dt, z.T(), z.C()), norm = output(s, dt, z.T(), z.C()), rrms = output(s, DType.F32, z.T());
                Pair scaled = output(s, dt, z.T(), z.C()), sa = s.pair(DType.F32, DType.F32, new double[] {0.7}, 1);
                s.both((o, g) -> o.mixRmsNorm(out.of(g), norm.of(g), rrms.of(g), scaled.of(g), x.of(g), a.of(g), 0.5, y.of(g), b.of(g), -2,
                        sa.of(g)));
                Tensor out0 = s.gpuArena.allocate(dt, z.T(), z.C()), norm0 = s.gpuArena.allocate(dt, z.T(), z.C()),
                        rrms0 = s.gpuArena.allocate(DType.F32, z.T()), scaled0 = s.gpuArena.allocate(dt, z.T(), z.C());
                s.gpu.mix(out0, x.gpu(), a.gpu(), 0.5, y.gpu(), b.gpu(), -2);
                s.gpu.rmsNorm(norm0, rrms0, out0);
                s.gpu.mix(scaled0, norm0, sa.gpu(), 1, null, null, 0);
                bitwise(s, at + " mix", out0, out.gpu());
                bitwise(s, at + " mix norm", norm0, norm.gpu());
                bitwise(s, at + " mix rrms", rrms0, rrms.gpu());
                bitwise(s, at + " mix scaled", scaled0, scaled.gpu());
                check(at + " scaled vs CPU", scaled, rtol(dt, true));
                check(at + " mix vs CPU", out, rtol(dt, false));
                check(at + " norm vs CPU", norm, rtol(dt, true));
                check(at + " rrms vs CPU", rrms, rtol(dt, true));
                // the residual add in place (out = x) with no coefficients, against add then rmsNorm
                Pair acc = input(s, dt, 3, z.T(), z.C());
                Tensor acc0 = s.gpuArena.allocate(dt, z.T(), z.C());
                s.gpu.convert(acc0, acc.gpu());
                s.both((o, g) -> o.mixRmsNorm(acc.of(g), norm.of(g), rrms.of(g), null, acc.of(g), null, 1, y.of(g), null, 1, null));
                s.gpu.add(acc0, acc0, y.gpu());
                s.gpu.rmsNorm(norm0, rrms0, acc0);
                bitwise(s, at + " add", acc0, acc.gpu());
                bitwise(s, at + " add norm", norm0, norm.gpu());
                bitwise(s, at + " add rrms", rrms0, rrms.gpu());
                check(at + " add norm vs CPU", norm, rtol(dt, true));
            }
        }
    }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void rmsNormRotaryIsTheUnfusedKernelsBitForBit(DType dt) {
        try (GpuTestSupport s = open(12)) {
            for (Sizes z : sizes()) {
                Pair freqs = s.pair(DType.F32, DType.F32, z.freqs(), z.D() / 2);
                for (boolean shift : new boolean[] {false, true}) {
                    String at = z.name() + " " + dt + (shift ? " key shift" : "");
                    long rows = (long) z.T() * z.H();
                    Pair x = input(s, dt, 2, z.T(), z.H(), z.D());
                    Pair out = output(s, dt, z.T(), z.H(), z.D()), rrms = output(s, DType.F32, z.T(), z.H());
                    s.both((o, g) -> o.rmsNormRotary(out.of(g), rrms.of(g), x.of(g), freqs.of(g), shift));
                    Tensor n = s.gpuArena.allocate(dt, z.T(), z.H(), z.D()), out0 = s.gpuArena.allocate(dt, z.T(), z.H(), z.D()),
                            rrms0 = s.gpuArena.allocate(DType.F32, z.T(), z.H());
                    s.gpu.rmsNorm(n.reshape(rows, z.D()), rrms0.reshape(rows), x.gpu().reshape(rows, z.D()));
                    s.gpu.rotary(n, n, freqs.gpu());
                    if (shift) s.gpu.keyShift(out0, n);
                    else out0 = n;
                    bitwise(s, at + " out", out0, out.gpu());
                    bitwise(s, at + " rrms", rrms0, rrms.gpu());
                    // rotary's tolerance of CudaOpsGpuTest: F32 sin/cos of the rounded angle against the CPU's double ones
                    check(at + " vs CPU", out, rtol(dt, true) * 4);
                    check(at + " rrms vs CPU", rrms, rtol(dt, true));
                }
            }
        }
    }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void rmsNormRotaryBackwardIsTheUnfusedKernelsBitForBit(DType dt) {
        try (GpuTestSupport s = open(13)) {
            for (Sizes z : sizes()) {
                Pair freqs = s.pair(DType.F32, DType.F32, z.freqs(), z.D() / 2);
                for (boolean shift : new boolean[] {false, true}) {
                    String at = z.name() + " " + dt + (shift ? " key shift" : "");
                    long rows = (long) z.T() * z.H();
                    long[] thd = {z.T(), z.H(), z.D()};
                    Pair x = input(s, dt, 2, thd), dOut = input(s, dt, 1, thd), y = output(s, dt, thd), rrms = output(s, DType.F32, z.T(), z.H());
                    s.both((o, g) -> o.rmsNormRotary(y.of(g), rrms.of(g), x.of(g), freqs.of(g), shift));
                    // accumulated onto a non-zero dx
                    Pair dx = input(s, dt, 1, thd);
                    Tensor dx0 = s.gpuArena.allocate(dt, thd), rotated = s.gpuArena.allocate(dt, thd), shifted = dOut.gpu();
                    s.gpu.convert(dx0, dx.gpu());
                    s.both((o, g) -> o.rmsNormRotaryBackward(dx.of(g), dOut.of(g), x.of(g), rrms.of(g), freqs.of(g), shift));
                    if (shift) {
                        shifted = s.gpuArena.allocate(dt, thd);
                        s.gpu.fill(shifted, 0);
                        s.gpu.keyShiftBackward(shifted, dOut.gpu());
                    }
                    s.gpu.fill(rotated, 0);
                    s.gpu.rotaryBackward(rotated, shifted, freqs.gpu());
                    s.gpu.rmsNormBackward(dx0.reshape(rows, z.D()), rotated.reshape(rows, z.D()), x.gpu().reshape(rows, z.D()),
                            rrms.gpu().reshape(rows));
                    bitwise(s, at + " dx", dx0, dx.gpu());
                    check(at + " dx vs CPU", dx, rtol(dt, true) * 4);
                }
            }
        }
    }

    /**
     * mixBackward's two kernels (mix_backward_partial, then mix_backward_finish for both scalars) against the
     * kernels it replaced, launched here as CudaOps launched them (mix_backward_dx for dx and for
     * dy, sum_partial mode 2 and sum_finish for da and for db): the same bits, accumulated onto
     * non-zero gradients; and within tolerance of the CPU.
     */
    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void mixBackwardIsTheKernelsItReplacedBitForBit(DType dt) {
        try (GpuTestSupport s = open(14)) {
            for (Sizes z : sizes()) {
                String at = z.name() + " " + dt;
                long n = (long) z.T() * z.C();
                Pair x = input(s, dt, 2, z.T(), z.C()), y = input(s, dt, 2, z.T(), z.C()), g = input(s, dt, 1, z.T(), z.C());
                Pair a = s.pair(DType.F32, DType.F32, new double[] {1.1}, 1), b = s.pair(DType.F32, DType.F32, new double[] {-0.37}, 1);
                Pair dx = input(s, dt, 1, z.T(), z.C()), dy = input(s, dt, 1, z.T(), z.C());
                Pair da = s.pair(DType.F32, DType.F32, new double[] {0.25}, 1), db = s.pair(DType.F32, DType.F32, new double[] {-0.5}, 1);
                Tensor dx0 = copy(s, dx.gpu()), dy0 = copy(s, dy.gpu()), da0 = copy(s, da.gpu()), db0 = copy(s, db.gpu());
                s.both((o, gp) -> o.mixBackward(dx.of(gp), dy.of(gp), da.of(gp), db.of(gp), g.of(gp), x.of(gp), a.of(gp), 0.5, y.of(gp),
                        b.of(gp), -2));
                CudaDevice dev = s.device();
                int parts = (int) Math.max(1, Math.min(256, (n + CudaOps.BLOCK - 1) / CudaOps.BLOCK));
                Tensor partials = s.gpuArena.allocate(DType.F32, parts);
                CudaDevice.Dim3 block = CudaDevice.Dim3.of(CudaOps.BLOCK), grid = CudaDevice.Dim3.of(CudaOps.gridFor(n));
                int d = CudaOps.dt(dx0, "dx"), f = CudaOps.dt(a.gpu(), "a");
                dev.launch(Kernel.MIX_BACKWARD_DX, grid, block, 0, ptr(dx0), d, ptr(g.gpu()), d, ptr(a.gpu()), f, 0.5f, n);
                dev.launch(Kernel.MIX_BACKWARD_DX, grid, block, 0, ptr(dy0), d, ptr(g.gpu()), d, ptr(b.gpu()), f, -2f, n);
                for (Tensor[] sum : new Tensor[][] {{da0, x.gpu()}, {db0, y.gpu()}}) {
                    float coef = sum[0] == da0 ? 0.5f : -2f;
                    dev.launch(Kernel.SUM_PARTIAL, CudaDevice.Dim3.of(parts), block, 0, ptr(partials), ptr(g.gpu()), d, ptr(sum[1]), d, n, 2);
                    dev.launch(Kernel.SUM_FINISH, CudaDevice.Dim3.of(1), block, 0, ptr(sum[0]), f, ptr(partials), parts, coef, 1);
                }
                bitwise(s, at + " dx", dx0, dx.gpu());
                bitwise(s, at + " dy", dy0, dy.gpu());
                bitwise(s, at + " da", da0, da.gpu());
                bitwise(s, at + " db", db0, db.gpu());
                check(at + " dx vs CPU", dx, rtol(dt, false));
                check(at + " dy vs CPU", dy, rtol(dt, false));
                check(at + " da vs CPU", da, rtol(dt, true));
                check(at + " db vs CPU", db, rtol(dt, true));
            }
        }
    }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void addEmbeddingIsTheUnfusedKernelsBitForBit(DType dt) {
        try (GpuTestSupport s = open(15)) {
            JsonNode tiny = Fixtures.json("model_tiny.json");
            int[] ids = Fixtures.ints(tiny.get("tokens"));
            int V = tiny.get("config").get("vocab_padded").asInt(), T = ids.length;
            Pair tokens = s.ints(ids);
            for (Sizes z : sizes()) {
                for (DType tableDt : dt == DType.BF16 ? List.of(DType.BF16, DType.F32) : List.of(dt)) {
                    String at = z.name() + " " + dt + " table " + tableDt;
                    Pair x = input(s, dt, 2, T, z.C()), table = input(s, tableDt, 1, V, z.C()), out = output(s, dt, T, z.C());
                    s.both((o, g) -> o.addEmbedding(out.of(g), x.of(g), table.of(g), tokens.of(g)));
                    Tensor e = s.gpuArena.allocate(dt, T, z.C()), out0 = s.gpuArena.allocate(dt, T, z.C());
                    s.gpu.embedding(e, table.gpu(), tokens.gpu());
                    s.gpu.add(out0, x.gpu(), e);
                    bitwise(s, at, out0, out.gpu());
                    check(at + " vs CPU", out, rtol(dt, false));
                }
            }
        }
    }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void headGateScaledIsTheUnfusedKernelsBitForBit(DType dt) {
        try (GpuTestSupport s = open(16)) {
            int G = Fixtures.json("model_tiny.json").get("config").get("gate_input_dims").asInt();
            for (Sizes z : sizes()) {
                String at = z.name() + " " + dt;
                long[] thd = {z.T(), z.H(), z.D()};
                Pair y = input(s, dt, 2, thd), x = input(s, dt, 1, z.T(), z.C()), w = input(s, DType.BF16, 1, z.H(), G);
                Pair sa = s.pair(DType.F32, DType.F32, new double[] {0.9}, 1);
                Pair out = output(s, dt, thd), gate = output(s, DType.F32, z.T(), z.H()), sc = output(s, dt, thd);
                s.both((o, g) -> o.headGateScaled(out.of(g), gate.of(g), sc.of(g), y.of(g), x.of(g), w.of(g), sa.of(g)));
                Tensor out0 = s.gpuArena.allocate(dt, thd), gate0 = s.gpuArena.allocate(DType.F32, z.T(), z.H()), sc0 = s.gpuArena.allocate(dt, thd);
                s.gpu.headGate(out0, gate0, y.gpu(), x.gpu(), w.gpu());
                s.gpu.mix(sc0, out0, sa.gpu(), 1, null, null, 0);
                bitwise(s, at + " out", out0, out.gpu());
                bitwise(s, at + " gate", gate0, gate.gpu());
                bitwise(s, at + " scaled", sc0, sc.gpu());
                check(at + " out vs CPU", out, rtol(dt, true));
                check(at + " scaled vs CPU", sc, rtol(dt, true));
            }
        }
    }

    private static Kernel.Ptr ptr(Tensor t) { return new Kernel.Ptr(t.address()); }

    /** A device copy of t. */
    private static Tensor copy(GpuTestSupport s, Tensor t) {
        Tensor c = s.gpuArena.allocate(t.dtype(), t.shape().dims());
        s.gpu.convert(c, t);
        return c;
    }

    /** Gaussian values × scale in dt on both sides (the CPU side in dt too: the same stored roundings). */
    private static Pair input(GpuTestSupport s, DType dt, double scale, long... dims) {
        long n = 1;
        for (long d : dims) n *= d;
        double[] v = new double[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) v[i] = s.rnd.nextGaussian() * scale;
        return s.pair(dt, dt, v, dims);
    }

    /** An output of dt on both sides, NaN on the device. */
    private static Pair output(GpuTestSupport s, DType dt, long... dims) {
        long n = 1;
        for (long d : dims) n *= d;
        Pair p = s.pair(dt, dt, new double[Math.toIntExact(n)], dims);
        s.gpu.fill(p.gpu(), Double.NaN);
        return p;
    }

    private static void bitwise(GpuTestSupport s, String what, Tensor want, Tensor got) {
        s.gpuBackend.synchronize();
        double[] w = HostData.toDoubles(want), g = HostData.toDoubles(got);
        long[] wb = new long[w.length], gb = new long[g.length];
        for (int i = 0; i < w.length; i++) { wb[i] = Double.doubleToRawLongBits(w[i]); gb[i] = Double.doubleToRawLongBits(g[i]); }
        assertArrayEquals(wb, gb, what + ": fused and unfused kernels differ");
    }
}
