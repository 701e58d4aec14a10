package dev.speedrun.kernels.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * FFM bindings of the cuBLASLt functions the GEMMs use (signatures from cublasLt.h; enum values
 * checked against org.bytedeco:cuda 13.1 {@code global.cublas}/{@code cudart}). Handles and
 * descriptors are opaque pointers; every status is checked and reported by name.
 */
public final class CublasLt {
    // cudaDataType_t
    public static final int CUDA_R_32F = 0, CUDA_R_16BF = 14, CUDA_R_8F_E4M3 = 28, CUDA_R_8F_E5M2 = 29;
    // cublasStatus_t: no algorithm or configuration for the problem
    public static final int CUBLAS_STATUS_NOT_SUPPORTED = 15;
    // cublasComputeType_t
    public static final int CUBLAS_COMPUTE_32F = 68;
    // cublasOperation_t
    public static final int CUBLAS_OP_N = 0, CUBLAS_OP_T = 1;
    // cublasLtMatmulDescAttributes_t
    public static final int DESC_TRANSA = 3, DESC_TRANSB = 4, DESC_A_SCALE_POINTER = 17, DESC_B_SCALE_POINTER = 18,
            DESC_FAST_ACCUM = 25;
    // cublasLtMatrixLayoutAttribute_t
    public static final int LAYOUT_BATCH_COUNT = 5, LAYOUT_STRIDED_BATCH_OFFSET = 6;
    // cublasLtMatmulPreferenceAttributes_t
    public static final int PREF_MAX_WORKSPACE_BYTES = 1, PREF_MIN_ALIGNMENT_A_BYTES = 5, PREF_MIN_ALIGNMENT_B_BYTES = 6,
            PREF_MIN_ALIGNMENT_C_BYTES = 7, PREF_MIN_ALIGNMENT_D_BYTES = 8;
    /** sizeof(cublasLtMatmulHeuristicResult_t): algo (8 × uint64), size_t workspaceSize, status, float waves, int[4]. */
    public static final int HEURISTIC_RESULT_BYTES = 96;
    /** Offset of workspaceSize and of state in the heuristic result. */
    public static final int HEURISTIC_WORKSPACE_OFFSET = 64, HEURISTIC_STATE_OFFSET = 72;

    public static final List<String> SONAMES = List.of("libcublasLt.so.13", "libcublasLt.so.12");

    final String from;
    final long version;
    final MethodHandle create, destroy, statusName, descCreate, descSet, descDestroy, layoutCreate, layoutSet,
            layoutDestroy, prefCreate, prefSet, prefDestroy, heuristic, matmul;

    private CublasLt(NativeLibraries.Loaded lib) {
        Linker l = Linker.nativeLinker();
        var s = lib.lookup();
        from = lib.from();
        create = h(l, s, "cublasLtCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        destroy = h(l, s, "cublasLtDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        statusName = h(l, s, "cublasLtGetStatusName", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        descCreate = h(l, s, "cublasLtMatmulDescCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
        descSet = h(l, s, "cublasLtMatmulDescSetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        descDestroy = h(l, s, "cublasLtMatmulDescDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        layoutCreate = h(l, s, "cublasLtMatrixLayoutCreate",
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG));
        layoutSet = h(l, s, "cublasLtMatrixLayoutSetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        layoutDestroy = h(l, s, "cublasLtMatrixLayoutDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        prefCreate = h(l, s, "cublasLtMatmulPreferenceCreate", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        prefSet = h(l, s, "cublasLtMatmulPreferenceSetAttribute", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        prefDestroy = h(l, s, "cublasLtMatmulPreferenceDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        // (handle, opDesc, Adesc, Bdesc, Cdesc, Ddesc, pref, requestedAlgoCount, results[], *returnAlgoCount)
        heuristic = h(l, s, "cublasLtMatmulAlgoGetHeuristic", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS));
        // (handle, desc, alpha, A, Adesc, B, Bdesc, beta, C, Cdesc, D, Ddesc, algo, workspace, workspaceSize, stream)
        matmul = h(l, s, "cublasLtMatmul", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
        MethodHandle getVersion = h(l, s, "cublasLtGetVersion", FunctionDescriptor.of(JAVA_LONG));
        try {
            version = (long) getVersion.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("cublasLtGetVersion failed", t);
        }
    }

    private static MethodHandle h(Linker l, java.lang.foreign.SymbolLookup s, String name, FunctionDescriptor fd) {
        MemorySegment sym = s.find(name).orElseThrow(() -> new IllegalStateException("cuBLASLt has no symbol " + name));
        return l.downcallHandle(sym, fd);
    }

    /** Loads cuBLASLt (13, else 12); throws {@link NativeLibraries.NotFound} listing the places tried. */
    public static CublasLt load() { return new CublasLt(NativeLibraries.load("cuBLASLt", SONAMES)); }

    /** Loads cuBLASLt from these folders only (tests bind a host-memory stand-in this way). */
    static CublasLt load(List<java.nio.file.Path> dirs) {
        return new CublasLt(NativeLibraries.load("cuBLASLt", SONAMES, dirs, false));
    }

    /** Binds the cuBLASLt API exported by an already opened library (the CPU emulation's reference implementation). */
    public static CublasLt bind(NativeLibraries.Loaded lib) { return new CublasLt(lib); }

    public String from() { return from; }

    /** cublasLtGetVersion(), e.g. 130100 for 13.1.0. */
    public long version() { return version; }

    /** Throws with the status name when {@code status} is not CUBLAS_STATUS_SUCCESS. */
    void check(String call, int status) {
        if (status == 0) return;
        String name;
        try {
            MemorySegment p = (MemorySegment) statusName.invokeExact(status);
            name = p.reinterpret(256).getString(0);
        } catch (Throwable t) {
            name = "status " + status;
        }
        throw new IllegalStateException(call + " failed: " + name + " (" + status + ")");
    }

    /** Largest power of two (≤ 256) dividing {@code address}: the alignment cuBLASLt may assume. */
    public static int alignment(long address) {
        if (address == 0) return 256;
        return (int) Math.min(256, Long.lowestOneBit(address));
    }
}
