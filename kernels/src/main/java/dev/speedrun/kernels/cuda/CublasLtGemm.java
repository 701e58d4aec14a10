package dev.speedrun.kernels.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * GEMMs through cuBLASLt on one device's stream: BF16 or F32 inputs, F32 accumulation and scale
 * (CUBLAS_COMPUTE_32F), BF16 or F32 output, strided batches; FP8 (E4M3/E5M2) with per-tensor
 * device scales for the LM head on sm_89+ ({@link #matmulFp8}). Descriptors and the chosen
 * algorithm are cached per shape, dtypes and pointer alignment. Not thread-safe: one per device
 * thread. Inside a replayable region of its device ({@link #deferTo}) a GEMM is recorded by its
 * prepared plan's number, pointers, scale pointers, alpha and beta, and sent when the queue
 * flushes ({@link #gemmNow}): the FP8 scale pointers are set on the descriptor then, right before
 * the call that reads them (and that a capture bakes into the graph).
 */
public final class CublasLtGemm implements Gemm, AutoCloseable, LaunchQueue.GemmDriver {
    private final CublasLt lt;
    private final MemorySegment handle;
    private final MemorySegment stream;
    private final MemorySegment workspace;
    private final long workspaceBytes;
    private final int computeCapability;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment scalars;
    private final Map<Key, Prepared> cache = new HashMap<>();
    /** Every prepared plan by its number (a recorded GEMM names its plan by number; plans are never dropped before close). */
    private final List<Prepared> plans = new ArrayList<>();
    private DeviceObserver observer;
    private LaunchQueue queue;

    private record Key(GemmPlan plan, int aType, int bType, int cType, int alignA, int alignB, int alignC, boolean fp8) {}

    private record Prepared(MemorySegment desc, MemorySegment aLayout, MemorySegment bLayout, MemorySegment cLayout,
                            MemorySegment algo, int id) {}

    /** Cached answer for a problem cuBLASLt has no algorithm for (the caller's fallback runs). */
    private static final Prepared NO_ALGORITHM = new Prepared(null, null, null, null, null, -1);

    public CublasLtGemm(CublasLt lt, long streamHandle, long workspaceAddress, long workspaceBytes, int computeCapability) {
        this.lt = lt;
        this.stream = MemorySegment.ofAddress(streamHandle);
        this.workspace = MemorySegment.ofAddress(workspaceAddress);
        this.workspaceBytes = workspaceBytes;
        this.computeCapability = computeCapability;
        this.scalars = arena.allocate(JAVA_FLOAT, 2);
        MemorySegment h = arena.allocate(ADDRESS);
        lt.check("cublasLtCreate", call(() -> (int) lt.create.invokeExact(h)));
        this.handle = h.get(ADDRESS, 0);
    }

    /** Reports every GEMM run to {@code o} (profiling); null: none. */
    public void observe(DeviceObserver o) { observer = o; }

    /** GEMMs called inside a replayable region of {@code q}'s device are recorded there and sent when it flushes. */
    public void deferTo(LaunchQueue q) {
        queue = q;
        q.gemmDriver(this);
    }

    /** cuBLASLt data type of a tensor dtype, or -1 when cuBLASLt is not used for it. */
    static int cudaType(DType t) {
        return switch (t) {
            case F32 -> CublasLt.CUDA_R_32F;
            case BF16 -> CublasLt.CUDA_R_16BF;
            case FP8_E4M3 -> CublasLt.CUDA_R_8F_E4M3;
            case FP8_E5M2 -> CublasLt.CUDA_R_8F_E5M2;
            default -> -1;
        };
    }

    /** Whether cuBLASLt serves this dtype mix: BF16·BF16 → BF16/F32 and F32·F32 → F32. */
    static boolean supported(DType out, DType a, DType b) {
        if (a != b) return false;
        if (a == DType.BF16) return out == DType.BF16 || out == DType.F32;
        return a == DType.F32 && out == DType.F32;
    }

    @Override public boolean matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta) {
        if (!supported(out.dtype(), a.dtype(), b.dtype())) return false;
        GemmShape s = GemmShape.of(out, a, b, transA, transB);
        if (s.m() == 0 || s.n() == 0 || s.batch() == 0) return true;
        if (s.k() == 0) return false;   // cuBLASLt rejects k = 0; the kernel writes beta·out
        return run(out, a, b, transA, transB, alpha, beta, s, null, null);
    }

    /**
     * FP8 GEMM {@code out = alpha·aScale·bScale·(a·bᵀ) + beta·out} (the "TN" form Hopper requires:
     * a [M,K], b [N,K], both FP8 and not both E5M2, K and N multiples of 16, 16-byte aligned);
     * aScale and bScale are [1] F32 device tensors holding the dequantisation factors (cuBLASLt's
     * A/B scale pointers: never read back to the host). F32 accumulation without Hopper's "fast
     * accumulation" mode. {@code CudaOps.matmulFp8} packs its operands into this form.
     * @return false when cuBLASLt has no algorithm for the problem (the caller's fallback runs)
     * @throws IllegalStateException below compute capability 8.9
     */
    public boolean matmulFp8(Tensor out, Tensor a, Tensor aScale, Tensor b, Tensor bScale, double alpha, double beta) {
        if (computeCapability < 89)
            throw new IllegalStateException("FP8 GEMMs need compute capability 8.9+, this GPU is " + computeCapability / 10 + "." + computeCapability % 10);
        if (cudaType(a.dtype()) < CublasLt.CUDA_R_8F_E4M3 || cudaType(b.dtype()) < CublasLt.CUDA_R_8F_E4M3)
            throw new IllegalArgumentException("matmulFp8 takes FP8 a and b, got " + a.dtype() + " and " + b.dtype());
        if (a.dtype() == DType.FP8_E5M2 && b.dtype() == DType.FP8_E5M2)
            throw new IllegalArgumentException("cuBLASLt has no E5M2 × E5M2 GEMM; use E4M3 for one operand");
        if (out.dtype() != DType.BF16 && out.dtype() != DType.F32)
            throw new IllegalArgumentException("matmulFp8 writes BF16 or F32, got " + out.dtype());
        GemmShape s = GemmShape.of(out, a, b, false, true);
        if (s.k() % 16 != 0 || s.n() % 16 != 0)
            throw new IllegalArgumentException("FP8 GEMM needs K and N multiples of 16, got K=" + s.k() + ", N=" + s.n());
        return run(out, a, b, false, true, alpha, beta, s, aScale, bScale);
    }

    private boolean run(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta, GemmShape s,
                        Tensor aScale, Tensor bScale) {
        GemmPlan plan = GemmPlan.of(s, transA, transB);
        // cuBLAS's A is our b and its B is our a (see GemmPlan).
        Key key = new Key(plan, cudaType(b.dtype()), cudaType(a.dtype()), cudaType(out.dtype()),
                CublasLt.alignment(b.address()), CublasLt.alignment(a.address()), CublasLt.alignment(out.address()),
                aScale != null);
        Prepared p = cache.get(key);
        if (p == null) {
            p = prepare(key);
            cache.put(key, p);
        }
        if (p == NO_ALGORITHM) return false;
        if (observer != null)
            observer.gemm(new DeviceObserver.Gemm(s.batch(), s.m(), s.n(), s.k(), a.dtype(), b.dtype(), out.dtype(), beta != 0));
        // cuBLAS's A is our b (and its A scale belongs to our b), its B our a.
        long sa = aScale == null ? 0 : bScale.address(), sb = aScale == null ? 0 : aScale.address();
        if (queue != null && queue.gemm(p.id, b.address(), a.address(), out.address(), sa, sb, (float) alpha, (float) beta)) return true;
        gemmNow(p.id, b.address(), a.address(), out.address(), sa, sb, (float) alpha, (float) beta);
        return true;
    }

    /**
     * Sends one GEMM of prepared plan {@code plan} now: {@code a}, {@code b}, {@code c} and the scale
     * pointers in cuBLAS's terms (0: no scales), alpha and beta as host scalars (read at the call).
     */
    @Override public void gemmNow(int plan, long a, long b, long c, long aScale, long bScale, float alpha, float beta) {
        Prepared q = plans.get(plan);
        if (aScale != 0) {
            setDesc(q.desc, CublasLt.DESC_A_SCALE_POINTER, aScale);
            setDesc(q.desc, CublasLt.DESC_B_SCALE_POINTER, bScale);
        }
        scalars.set(JAVA_FLOAT, 0, alpha);
        scalars.set(JAVA_FLOAT, 4, beta);
        MemorySegment A = MemorySegment.ofAddress(a), B = MemorySegment.ofAddress(b), C = MemorySegment.ofAddress(c);
        int rc = call(() -> (int) lt.matmul.invokeExact(handle, q.desc, scalars.asSlice(0, 4),
                A, q.aLayout, B, q.bLayout, scalars.asSlice(4, 4), C, q.cLayout, C, q.cLayout, q.algo, workspace,
                workspaceBytes, stream));
        if (rc != 0) lt.check("cublasLtMatmul(plan " + plan + ")", rc);   // the message only on failure: no string per GEMM
    }

    private void setDesc(MemorySegment desc, int attr, long pointer) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            v.set(JAVA_LONG, 0, pointer);
            lt.check("cublasLtMatmulDescSetAttribute(" + attr + ")", call(() -> (int) lt.descSet.invokeExact(desc, attr, v, 8L)));
        }
    }

    private Prepared prepare(Key k) {
        GemmPlan plan = k.plan();
        MemorySegment out = arena.allocate(ADDRESS);
        lt.check("cublasLtMatmulDescCreate", call(() -> (int) lt.descCreate.invokeExact(out, CublasLt.CUBLAS_COMPUTE_32F, CublasLt.CUDA_R_32F)));
        MemorySegment desc = out.get(ADDRESS, 0);
        MemorySegment i32 = arena.allocate(JAVA_INT);
        i32.set(JAVA_INT, 0, plan.opA() ? CublasLt.CUBLAS_OP_T : CublasLt.CUBLAS_OP_N);
        lt.check("set TRANSA", call(() -> (int) lt.descSet.invokeExact(desc, CublasLt.DESC_TRANSA, i32, 4L)));
        i32.set(JAVA_INT, 0, plan.opB() ? CublasLt.CUBLAS_OP_T : CublasLt.CUBLAS_OP_N);
        lt.check("set TRANSB", call(() -> (int) lt.descSet.invokeExact(desc, CublasLt.DESC_TRANSB, i32, 4L)));
        if (k.fp8()) {
            MemorySegment one = arena.allocate(JAVA_BYTE);
            one.set(JAVA_BYTE, 0, (byte) 0);   // no fast accumulation: full F32 accumulate, as the record's forward
            lt.check("set FAST_ACCUM", call(() -> (int) lt.descSet.invokeExact(desc, CublasLt.DESC_FAST_ACCUM, one, 1L)));
        }
        MemorySegment aL = layout(k.aType(), plan.aLayout(), plan.batch());
        MemorySegment bL = layout(k.bType(), plan.bLayout(), plan.batch());
        MemorySegment cL = layout(k.cType(), plan.cLayout(), plan.batch());
        MemorySegment pOut = arena.allocate(ADDRESS);
        lt.check("cublasLtMatmulPreferenceCreate", call(() -> (int) lt.prefCreate.invokeExact(pOut)));
        MemorySegment pref = pOut.get(ADDRESS, 0);
        MemorySegment u64 = arena.allocate(JAVA_LONG);
        u64.set(JAVA_LONG, 0, workspaceBytes);
        lt.check("set MAX_WORKSPACE", call(() -> (int) lt.prefSet.invokeExact(pref, CublasLt.PREF_MAX_WORKSPACE_BYTES, u64, 8L)));
        int[][] aligns = {{CublasLt.PREF_MIN_ALIGNMENT_A_BYTES, k.alignA()}, {CublasLt.PREF_MIN_ALIGNMENT_B_BYTES, k.alignB()},
                {CublasLt.PREF_MIN_ALIGNMENT_C_BYTES, k.alignC()}, {CublasLt.PREF_MIN_ALIGNMENT_D_BYTES, k.alignC()}};
        for (int[] al : aligns) {
            i32.set(JAVA_INT, 0, al[1]);
            lt.check("set MIN_ALIGNMENT", call(() -> (int) lt.prefSet.invokeExact(pref, al[0], i32, 4L)));
        }
        MemorySegment result = arena.allocate(CublasLt.HEURISTIC_RESULT_BYTES, 16);
        MemorySegment count = arena.allocate(JAVA_INT);
        int status = call(() -> (int) lt.heuristic.invokeExact(handle, desc, aL, bL, cL, cL, pref, 1, result, count));
        lt.check("cublasLtMatmulPreferenceDestroy", call(() -> (int) lt.prefDestroy.invokeExact(pref)));
        // No algorithm for this problem: cuBLASLt answers NOT_SUPPORTED (or returns none), and the
        // caller takes its fallback; anything else is an error.
        if (status != CublasLt.CUBLAS_STATUS_NOT_SUPPORTED) lt.check("cublasLtMatmulAlgoGetHeuristic", status);
        if (status != 0 || count.get(JAVA_INT, 0) < 1 || result.get(JAVA_INT, CublasLt.HEURISTIC_STATE_OFFSET) != 0) {
            Prepared none = new Prepared(desc, aL, bL, cL, null, -1);
            destroy(none);
            return NO_ALGORITHM;
        }
        Prepared made = new Prepared(desc, aL, bL, cL, result, plans.size());
        plans.add(made);
        return made;
    }

    private MemorySegment layout(int type, GemmPlan.Layout l, long batch) {
        MemorySegment out = arena.allocate(ADDRESS);
        lt.check("cublasLtMatrixLayoutCreate", call(() -> (int) lt.layoutCreate.invokeExact(out, type, l.rows(), l.cols(), l.ld())));
        MemorySegment lay = out.get(ADDRESS, 0);
        if (batch > 1) {
            MemorySegment i32 = arena.allocate(JAVA_INT);
            i32.set(JAVA_INT, 0, (int) batch);
            lt.check("set BATCH_COUNT", call(() -> (int) lt.layoutSet.invokeExact(lay, CublasLt.LAYOUT_BATCH_COUNT, i32, 4L)));
            MemorySegment i64 = arena.allocate(JAVA_LONG);
            i64.set(JAVA_LONG, 0, l.batchStride());
            lt.check("set STRIDED_BATCH_OFFSET", call(() -> (int) lt.layoutSet.invokeExact(lay, CublasLt.LAYOUT_STRIDED_BATCH_OFFSET, i64, 8L)));
        }
        return lay;
    }

    @FunctionalInterface private interface NativeCall { int run() throws Throwable; }

    private static int call(NativeCall c) {
        try {
            return c.run();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private void destroy(Prepared p) {
        call(() -> (int) lt.descDestroy.invokeExact(p.desc));
        call(() -> (int) lt.layoutDestroy.invokeExact(p.aLayout));
        call(() -> (int) lt.layoutDestroy.invokeExact(p.bLayout));
        call(() -> (int) lt.layoutDestroy.invokeExact(p.cLayout));
    }

    @Override public void close() {
        for (Prepared p : cache.values()) if (p != NO_ALGORITHM) destroy(p);
        cache.clear();
        plans.clear();
        call(() -> (int) lt.destroy.invokeExact(handle));
        arena.close();
    }
}
