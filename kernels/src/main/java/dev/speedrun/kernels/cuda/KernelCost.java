package dev.speedrun.kernels.cuda;

import dev.speedrun.kernels.cuda.CudaDevice.Dim3;
import dev.speedrun.kernels.cuda.Kernel.Ptr;
import dev.speedrun.tensor.DType;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * The work of one launch, computed from its arguments (the shapes and dtype codes every kernel
 * receives): floating-point operations and bytes moved to or from device memory. Conventions, so
 * the numbers are comparable between kernels: an add or multiply is one FLOP, a fused multiply-add
 * two, a transcendental (exp, sin, rsqrt) one; bytes count every tensor element the kernel must
 * read or write once (accumulated outputs twice: read and written), at the element size its dtype
 * code gives (F32 4, BF16 2, FP8 1, I32 4), not the re-reads a kernel's tiling makes (that is what
 * caches are for, and the estimate is of what the work needs). Attention's work depends on how many
 * keys each query sees, which only the device's {@code cu_seqlens} says: the caller supplies the
 * keys seen per window ({@link AttentionKeys}); without it every query is assumed to see its whole
 * window (one document), an upper bound.
 *
 * <p>A GEMM (the tiled kernel or cuBLASLt) is classified by its operand dtypes ({@link GemmClass}).
 * Every kernel of {@link Kernel} has a cost function here; {@code KernelCostTest} checks that, so a
 * new kernel without one fails the build's tests instead of being profiled as free.
 */
public final class KernelCost {
    private KernelCost() {}

    /** Σ over the queries of the keys each attends to, for a window of {@code window} tokens. */
    @FunctionalInterface public interface AttentionKeys {
        double keysSeen(int window);
    }

    /** Operand class of a GEMM, which decides the peak rate it runs at. */
    public enum GemmClass {
        /** either operand FP8 (E4M3 or E5M2): FP8 tensor cores */
        FP8,
        /** BF16 operands: BF16 tensor cores */
        BF16,
        /** both operands F32: no tensor cores (CUBLAS_COMPUTE_32F on F32 operands) */
        F32,
        /** anything else (the tiled kernel on mixed operands) */
        OTHER;

        public static GemmClass of(DType a, DType b) {
            if (fp8(a) || fp8(b)) return FP8;
            if (a == DType.BF16 && b == DType.BF16) return BF16;
            if (a == DType.F32 && b == DType.F32) return F32;
            return OTHER;
        }

        private static boolean fp8(DType t) { return t == DType.FP8_E4M3 || t == DType.FP8_E5M2; }
    }

    /**
     * The work of one launch: {@code gemm} is null for a kernel that is not a GEMM; for a GEMM its
     * FLOPs are all {@code flops}.
     */
    public record Cost(double flops, double bytes, GemmClass gemm) {
        static Cost of(double flops, double bytes) { return new Cost(flops, bytes, null); }
    }

    /** The arguments of one launch by parameter name. */
    static final class Args {
        private final Kernel kernel;
        private final Object[] values;
        final Dim3 grid;

        Args(Kernel kernel, Dim3 grid, Object[] values) {
            this.kernel = kernel;
            this.grid = grid;
            this.values = values;
        }

        Kernel kernel() { return kernel; }

        private Object get(String name) {
            int i = kernel.paramNames().indexOf(name);
            if (i < 0) throw new IllegalStateException("cost function of " + kernel.cName() + " reads a parameter '" + name + "' it does not have");
            return values[i];
        }

        /** An int or long parameter. */
        double n(String name) { return ((Number) get(name)).doubleValue(); }

        float f(String name) { return (Float) get(name); }

        boolean isNull(String name) { return ((Ptr) get(name)).address() == 0; }

        /** Bytes per element of the dtype code parameter {@code name} (common.cuh: 0 F32, 1 BF16). */
        double s(String name) { return ((Integer) get(name)) == 1 ? 2 : 4; }

        DType dtype(String name) { return ((Integer) get(name)) == 1 ? DType.BF16 : DType.F32; }
    }

    private static final Map<String, Function<Args, Cost>> COSTS = new HashMap<>();

    private static void cost(Kernel k, Function<Args, Cost> f) { COSTS.put(k.cName(), f); }

    static {
        // elementwise.cu
        cost(Kernel.FILL, a -> Cost.of(0, a.n("n") * a.s("odt")));
        cost(Kernel.CONVERT, a -> Cost.of(0, a.n("n") * (a.s("odt") + a.s("xdt"))));
        cost(Kernel.ADD, a -> Cost.of(a.n("n"), a.n("n") * (a.s("odt") + a.s("xdt") + a.s("ydt"))));
        cost(Kernel.MIX, a -> {
            boolean two = !a.isNull("y");
            return Cost.of(a.n("n") * (two ? 3 : 1), a.n("n") * (a.s("odt") + a.s("xdt") + (two ? a.s("ydt") : 0)));
        });
        cost(Kernel.MIX_BACKWARD_DX, a -> Cost.of(2 * a.n("n"), a.n("n") * (2 * a.s("dxdt") + a.s("ddt"))));
        cost(Kernel.SIGMOID, a -> Cost.of(4 * a.n("n"), a.n("n") * (a.s("odt") + a.s("xdt"))));
        cost(Kernel.SIGMOID_BACKWARD, a -> Cost.of(4 * a.n("n"), a.n("n") * (2 * a.s("dxdt") + a.s("ddt") + a.s("ydt"))));
        cost(Kernel.RELU_SQUARED, a -> Cost.of(2 * a.n("n"), a.n("n") * (a.s("odt") + a.s("xdt"))));
        cost(Kernel.RELU_SQUARED_BACKWARD, a -> Cost.of(4 * a.n("n"), a.n("n") * (2 * a.s("dxdt") + a.s("ddt") + a.s("xdt"))));
        cost(Kernel.TOKEN_MASK, a -> Cost.of(0, a.n("n") * (a.s("odt") + 4)));
        // x [rows, cols] read once, one FP8 byte written per element of the (pitch-padded) output
        cost(Kernel.QUANTIZE_FP8, a -> {
            double rows = a.n("rows"), cols = a.n("cols");
            return Cost.of(2 * rows * cols, rows * cols * a.s("xdt") + rows * Math.max(cols, a.n("pitch")) + 4);
        });
        cost(Kernel.SUM_PARTIAL, a -> {
            double n = a.n("n");
            boolean xy = a.n("mode") == 2;
            return Cost.of(a.n("mode") == 0 ? n : 2 * n, n * (a.s("xdt") + (xy ? a.s("ydt") : 0)) + 4 * a.grid.x());
        });
        cost(Kernel.SUM_FINISH, a -> Cost.of(a.n("nparts") + 2, 4 * a.n("nparts") + 2 * a.s("odt")));
        // embedding.cu
        cost(Kernel.EMBEDDING, a -> Cost.of(0, a.n("T") * a.n("C") * (a.s("odt") + a.s("tdt")) + 4 * a.n("T")));
        cost(Kernel.EMBEDDING_BACKWARD, a -> Cost.of(a.n("T") * a.n("C"),
                a.n("T") * a.n("C") * (a.s("ddt") + 2 * a.s("dtdt")) + 4 * a.n("T")));
        // each touched row: the F32 accumulator read and zeroed, the BF16 table element read and written
        cost(Kernel.EMBEDDING_BACKWARD_APPLY, a -> Cost.of(a.n("T") * a.n("C"),
                a.n("T") * a.n("C") * (2 * 4 + 2 * a.s("dtdt")) + 4 * a.n("T")));
        // gates.cu (gate logits over the first G channels, one gate per head, or one per token for smear)
        cost(Kernel.HEAD_GATE, a -> {
            double T = a.n("T"), H = a.n("H"), D = a.n("D"), G = a.n("G");
            return Cost.of(2 * T * H * G + 4 * T * H + T * H * D,
                    T * H * D * (a.s("odt") + a.s("ydt")) + T * G * a.s("xdt") + H * G * a.s("wdt") + 4 * T * H);
        });
        cost(Kernel.HEAD_GATE_BACKWARD_DY, a -> {
            double T = a.n("T"), H = a.n("H"), D = a.n("D");
            return Cost.of(3 * T * H * D, T * H * D * (2 * a.s("dydt") + a.s("ddt") + a.s("ydt")) + 8 * T * H);
        });
        cost(Kernel.HEAD_GATE_BACKWARD_DX, a -> {
            double T = a.n("T"), H = a.n("H"), G = a.n("G");
            return Cost.of(2 * T * H * G, T * G * 2 * a.s("dxdt") + 4 * T * H + H * G * a.s("wdt"));
        });
        cost(Kernel.HEAD_GATE_BACKWARD_DW, a -> {
            double T = a.n("T"), H = a.n("H"), G = a.n("G");
            return Cost.of(2 * T * H * G, 4 * T * H + T * G * a.s("xdt") + H * G * 2 * a.s("dwdt"));
        });
        cost(Kernel.SMEAR, a -> {
            double T = a.n("T"), C = a.n("C"), G = a.n("G");
            return Cost.of(2 * T * G + 3 * T * C + 4 * T, T * C * (a.s("odt") + a.s("xdt")) + G * a.s("wdt") + 4 * T);
        });
        cost(Kernel.SMEAR_BACKWARD_DOT, a -> {
            double T = a.n("T"), C = a.n("C");
            return Cost.of(2 * T * C, T * C * (a.s("ddt") + a.s("xdt")) + 4 * T);
        });
        cost(Kernel.SMEAR_BACKWARD_DX, a -> {
            double T = a.n("T"), C = a.n("C"), G = a.n("G");
            return Cost.of(3 * T * C + 2 * T * G, T * C * (2 * a.s("dxdt") + a.s("ddt")) + 8 * T + G * a.s("wdt"));
        });
        cost(Kernel.SMEAR_BACKWARD_PARAMS, a -> {
            double T = a.n("T"), G = a.n("G");
            return Cost.of(2 * T * (G + 1), T * G * a.s("xdt") + 8 * T + (G + 1) * 2 * a.s("dwdt"));
        });
        // gemm.cu: the FP8 fallback GEMM on packed TN operands (one byte per element, K padded to 16)
        cost(Kernel.MATMUL_FP8, a -> {
            double M = a.n("M"), N = a.n("N"), K = a.n("K");
            boolean acc = a.f("beta") != 0;
            return new Cost(2 * M * N * K, M * K + N * K + M * N * a.s("odt") * (acc ? 2 : 1) + 8, GemmClass.FP8);
        });
        // gemm.cu: the tiled fallback GEMM, batch = grid z
        cost(Kernel.MATMUL_TILED, a -> {
            double M = a.n("M"), N = a.n("N"), K = a.n("K"), B = a.grid.z();
            boolean acc = a.f("beta") != 0;
            return new Cost(2 * B * M * N * K, B * (M * K * a.s("adt") + K * N * a.s("bdt") + M * N * a.s("odt") * (acc ? 2 : 1)),
                    GemmClass.of(a.dtype("adt"), a.dtype("bdt")));
        });
        // loss.cu: two passes over the logits (max and sum, then loss and gradient), ~20 FLOPs per logit
        cost(Kernel.SOFTCAP_CROSS_ENTROPY, a -> {
            double T = a.n("T"), V = a.n("V");
            return Cost.of(20 * T * V, T * V * (2 * a.s("zdt") + (a.isNull("dlogits") ? 0 : a.s("dldt"))) + T * (4 + a.s("lossdt")));
        });
        // norms.cu: one row per warp
        cost(Kernel.RMS_NORM, a -> {
            double R = a.n("R"), C = a.n("C");
            return Cost.of(4 * R * C, R * C * (a.s("odt") + a.s("xdt")) + 4 * R);
        });
        cost(Kernel.RMS_NORM_BACKWARD, a -> {
            double R = a.n("R"), C = a.n("C");
            return Cost.of(7 * R * C, R * C * (2 * a.s("dxdt") + a.s("ddt") + a.s("xdt")) + 4 * R);
        });
        // fused.cu: the unfused kernels' work without their round trips through memory (the mix is
        // written once and re-read from cache; the key shift's neighbour rows are re-reads, not counted)
        cost(Kernel.ADD_EMBEDDING, a -> Cost.of(a.n("T") * a.n("C"),
                a.n("T") * a.n("C") * (a.s("odt") + a.s("xdt") + a.s("tdt")) + 4 * a.n("T")));
        // head_gate's work (counted as head_gate counts it) and the scaled copy: one multiply and one store per element
        cost(Kernel.HEAD_GATE_SCALED, a -> {
            double T = a.n("T"), H = a.n("H"), D = a.n("D"), G = a.n("G");
            return Cost.of(2 * T * H * G + 4 * T * H + 2 * T * H * D,
                    T * H * D * (a.s("odt") + a.s("ydt") + a.s("scdt")) + T * G * a.s("xdt") + H * G * a.s("wdt") + 4 * T * H);
        });
        cost(Kernel.MIX_BACKWARD_PARTIAL, a -> {
            double n = a.n("n");
            int grads = (a.isNull("dx") ? 0 : 1) + (a.isNull("dy") ? 0 : 1), sums = (a.isNull("x") ? 0 : 1) + (a.isNull("y") ? 0 : 1);
            double bytes = n * (a.s("ddt") + (a.isNull("x") ? 0 : a.s("xdt")) + (a.isNull("y") ? 0 : a.s("ydt"))
                    + (a.isNull("dx") ? 0 : 2 * a.s("dxdt")) + (a.isNull("dy") ? 0 : 2 * a.s("dydt")));
            return Cost.of(2 * n * (grads + sums), bytes + (a.isNull("partials") ? 0 : 8 * a.grid.x()));
        });
        cost(Kernel.MIX_BACKWARD_FINISH, a -> Cost.of(2 * a.n("parts") + 4,
                8 * a.n("parts") + (a.isNull("da") ? 0 : 2 * a.s("dadt")) + (a.isNull("db") ? 0 : 2 * a.s("dbdt"))));
        cost(Kernel.MIX_RMS_NORM, a -> {
            double R = a.n("R"), C = a.n("C"), n = R * C;
            boolean two = !a.isNull("y"), scaled = !a.isNull("scaled");
            return Cost.of(n * ((two ? 3 : 1) + 4 + (scaled ? 1 : 0)),
                    n * (a.s("xdt") + (two ? a.s("ydt") : 0) + a.s("odt") + a.s("ndt") + (scaled ? a.s("scdt") : 0)) + 4 * R);
        });
        cost(Kernel.RMS_NORM_ROTARY, a -> {
            double rows = a.n("T") * a.n("H"), n = rows * a.n("D");
            boolean shift = a.n("shift") != 0;
            return Cost.of(n * (4 + 4 + (shift ? 2 : 0)), n * (a.s("xdt") + a.s("odt")) + a.n("D") / 2 * a.s("fdt") + 4 * rows);
        });
        // each column's rotated pair is computed twice per pass (two passes), θ in double as rotary's
        cost(Kernel.RMS_NORM_ROTARY_BACKWARD, a -> {
            double rows = a.n("T") * a.n("H"), n = rows * a.n("D");
            return Cost.of(n * (7 + 2 * 4), n * (2 * a.s("dxdt") + a.s("ddt") + a.s("xdt")) + a.n("D") / 2 * a.s("fdt") + 4 * rows);
        });
        // optimizer.cu
        cost(Kernel.ADAM_STEP, a -> Cost.of(12 * a.n("n"),
                a.n("n") * (2 * a.s("pdt") + a.s("gdt") + 2 * a.s("mdt") + 2 * a.s("vdt"))));
        cost(Kernel.MUON_MOMENTUM, a -> Cost.of(4 * a.n("n"), a.n("n") * (a.s("udt") + 2 * a.s("bdt") + a.s("gdt"))));
        cost(Kernel.DECAYED_UPDATE, a -> Cost.of(4 * a.n("n"), a.n("n") * (2 * a.s("pdt") + a.s("vdt"))));
        cost(Kernel.FROBENIUS_NORMALIZE_PARTIAL, a -> {
            double n = a.n("perMatrix") * a.grid.y();
            return Cost.of(2 * n, n * a.s("xdt") + 4.0 * a.grid.x() * a.grid.y());
        });
        cost(Kernel.FROBENIUS_NORMALIZE_SCALE, a -> {
            double n = a.n("perMatrix") * a.grid.y();
            return Cost.of(n, n * (a.s("odt") + a.s("xdt")) + 4 * a.n("parts") * a.grid.y());
        });
        cost(Kernel.VARIANCE_REDUCE_ROWS, a -> {
            double rows = a.grid.x(), C = a.n("C");
            return Cost.of(3 * rows * C, rows * C * a.s("vdt") + rows * (2 * a.s("s2dt") + 8));
        });
        cost(Kernel.VARIANCE_REDUCE_MATRIX, a -> {
            double rows = a.n("R") * a.grid.x();
            return Cost.of(3 * rows, 8 * rows + 4 * a.grid.x());
        });
        cost(Kernel.VARIANCE_REDUCE_APPLY, a -> {
            double rows = a.grid.x(), C = a.n("C");
            return Cost.of(rows * C, rows * C * 2 * a.s("vdt") + 8 * rows);
        });
        // rotary.cu: one (cos, sin) pair rotation per element pair, θ in double
        cost(Kernel.ROTARY, a -> {
            double n = a.n("T") * a.n("H") * a.n("D");
            boolean acc = a.n("accumulate") != 0;
            return Cost.of(4 * n, n * (a.s("odt") * (acc ? 2 : 1) + a.s("xdt")) + a.n("D") / 2 * a.s("fdt"));
        });
        cost(Kernel.KEY_SHIFT, a -> Cost.of(0, a.n("T") * a.n("H") * a.n("D") * (a.s("odt") + a.s("xdt"))));
        cost(Kernel.KEY_SHIFT_BACKWARD, a -> {
            double n = a.n("T") * a.n("H") * a.n("D");
            return Cost.of(n, n * (2 * a.s("dxdt") + a.s("ddt")));
        });
        // attention.cu and the backward's passes: see attention(); delta = rowsum(dO·O)
        cost(Kernel.ATTENTION_BACKWARD_DELTA, a -> {
            double n = a.n("T") * a.n("H") * a.n("D");
            return Cost.of(2 * n, n * (a.s("ddt") + a.s("odt")) + 4 * a.n("T") * a.n("H"));
        });
    }

    /** Kernels whose FLOPs depend on the keys seen, with FLOPs per (query, key, head dim) pair. */
    private static final Map<String, Double> ATTENTION_FLOPS_PER_KEY_DIM = Map.of(
            Kernel.ATTENTION.cName(), 4.0,                 // q·k and p·v
            Kernel.ATTENTION_BACKWARD_DQ.cName(), 6.0,     // q·k again, dO·v, dS·k
            Kernel.ATTENTION_BACKWARD_DKV.cName(), 8.0,    // q·k again, dO·v, Pᵀ·dO, dSᵀ·q
            // the tensor-core variants do the same products (the same split of the backward)
            Kernel.ATTENTION_MMA.cName(), 4.0,
            Kernel.ATTENTION_BACKWARD_DQ_MMA.cName(), 6.0,
            Kernel.ATTENTION_BACKWARD_DKV_MMA.cName(), 8.0);

    /** Whether {@code kernel} has a cost function. */
    public static boolean covers(Kernel kernel) {
        return COSTS.containsKey(kernel.cName()) || ATTENTION_FLOPS_PER_KEY_DIM.containsKey(kernel.cName());
    }

    /** The work of a launch of {@code kernel} with {@code args}; {@code keys} may be null (one document per launch). */
    public static Cost of(Kernel kernel, Dim3 grid, Object[] args, AttentionKeys keys) {
        Args a = new Args(kernel, grid, args);
        Double perKey = ATTENTION_FLOPS_PER_KEY_DIM.get(kernel.cName());
        if (perKey != null) return attention(a, perKey, keys, kernel != Kernel.ATTENTION && kernel != Kernel.ATTENTION_MMA);
        Function<Args, Cost> f = COSTS.get(kernel.cName());
        if (f == null) throw new IllegalStateException("kernel " + kernel.cName() + " has no cost function in KernelCost");
        return f.apply(a);
    }

    /**
     * Attention forward or a backward pass: FLOPs = per-key FLOPs · H · D · keys seen, plus about 5
     * per (query, key, head) for the softmax; bytes = q, k, v and the output (the backward: dO read,
     * dq or dk/dv accumulated) once each, and the F32 statistics.
     */
    private static Cost attention(Args a, double perKey, AttentionKeys keys, boolean backward) {
        double T = a.n("T"), H = a.n("H"), D = a.n("D");
        int window = (int) a.n("window");
        double seen = keys != null ? keys.keysSeen(window) : oneDocument((int) T, window);
        double flops = (perKey * D + 5) * H * seen;
        double thd = T * H * D;
        double bytes = thd * (a.s("qdt") + a.s("kdt") + a.s("vdt"));
        if (!backward) bytes += thd * a.s("odt") + 4 * T * H;
        else if (a.kernel() == Kernel.ATTENTION_BACKWARD_DQ || a.kernel() == Kernel.ATTENTION_BACKWARD_DQ_MMA) bytes += thd * (a.s("ddt") + 2 * a.s("dqdt")) + 8 * T * H;
        else bytes += thd * (a.s("ddt") + 2 * a.s("dkdt") + 2 * a.s("dvdt")) + 8 * T * H;
        return Cost.of(flops, bytes);
    }

    /** Keys seen by T queries of one document with a window of {@code window} tokens: Σ_p (min(p, window) + 1). */
    public static double oneDocument(int T, int window) {
        double s = 0;
        for (int p = 0; p < T; p++) s += Math.min(p, window) + 1;
        return s;
    }

    /** The work of a cuBLASLt GEMM. */
    public static Cost of(DeviceObserver.Gemm g) {
        double bytes = g.batch() * (g.m() * g.k() * size(g.a()) + g.k() * g.n() * size(g.b())
                + g.m() * g.n() * size(g.out()) * (g.accumulate() ? 2 : 1));
        return new Cost(2.0 * g.batch() * g.m() * g.n() * g.k(), bytes, GemmClass.of(g.a(), g.b()));
    }

    private static double size(DType t) { return t.byteSize(); }
}
