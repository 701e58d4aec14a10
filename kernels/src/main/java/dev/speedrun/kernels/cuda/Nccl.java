package dev.speedrun.kernels.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * FFM bindings of libnccl.so.2 (signatures from nccl.h; enum values checked against
 * org.bytedeco:cuda 13.1 {@code global.nccl}). ncclUniqueId is a 128-byte struct passed by value.
 */
public final class Nccl {
    public static final int UNIQUE_ID_BYTES = 128;
    // ncclDataType_t
    public static final int ncclInt32 = 2, ncclFloat32 = 7, ncclFloat64 = 8, ncclBfloat16 = 9;
    // ncclRedOp_t
    public static final int ncclSum = 0, ncclAvg = 4;
    public static final List<String> SONAMES = List.of("libnccl.so.2");
    static final StructLayout UNIQUE_ID = MemoryLayout.structLayout(MemoryLayout.sequenceLayout(UNIQUE_ID_BYTES, JAVA_BYTE).withName("internal"));

    final String from;
    final MethodHandle getUniqueId, commInitRank, allReduce, reduceScatter, allGather, broadcast, commDestroy, errorString,
            getVersion;

    private Nccl(NativeLibraries.Loaded lib) {
        Linker l = Linker.nativeLinker();
        var s = lib.lookup();
        from = lib.from();
        getUniqueId = h(l, s, "ncclGetUniqueId", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        commInitRank = h(l, s, "ncclCommInitRank", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, UNIQUE_ID, JAVA_INT));
        // (send, recv, count, datatype, op, comm, stream)
        allReduce = h(l, s, "ncclAllReduce", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        // (send, recv, recvcount, datatype, op, comm, stream)
        reduceScatter = h(l, s, "ncclReduceScatter", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        // (send, recv, sendcount, datatype, comm, stream)
        allGather = h(l, s, "ncclAllGather", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, ADDRESS, ADDRESS));
        // (send, recv, count, datatype, root, comm, stream)
        broadcast = h(l, s, "ncclBroadcast", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
        commDestroy = h(l, s, "ncclCommDestroy", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        errorString = h(l, s, "ncclGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
        getVersion = h(l, s, "ncclGetVersion", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    }

    private static MethodHandle h(Linker l, java.lang.foreign.SymbolLookup s, String name, FunctionDescriptor fd) {
        MemorySegment sym = s.find(name).orElseThrow(() -> new IllegalStateException("NCCL has no symbol " + name));
        return l.downcallHandle(sym, fd);
    }

    private static Nccl instance;

    /** Loads libnccl.so.2 once; throws {@link NativeLibraries.NotFound} listing the places tried. */
    public static synchronized Nccl load() {
        if (instance == null) instance = new Nccl(NativeLibraries.load("NCCL", SONAMES));
        return instance;
    }

    /** Loads NCCL from these folders only, uncached (tests bind a host stand-in this way). */
    static Nccl load(List<java.nio.file.Path> dirs) { return new Nccl(NativeLibraries.load("NCCL", SONAMES, dirs, false)); }

    public String from() { return from; }

    /** Throws naming the call and NCCL's error string when {@code rc} is not ncclSuccess. */
    void check(String call, int rc) {
        if (rc == 0) return;
        String msg;
        try {
            msg = ((MemorySegment) errorString.invokeExact(rc)).reinterpret(512).getString(0);
        } catch (Throwable t) {
            msg = "error " + rc;
        }
        throw new IllegalStateException(call + " failed: " + msg + " (ncclResult " + rc + ")");
    }

    /** A fresh ncclUniqueId (128 bytes). */
    public byte[] uniqueId() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment id = a.allocate(UNIQUE_ID);
            check("ncclGetUniqueId", invoke(() -> (int) getUniqueId.invokeExact(id)));
            return id.toArray(JAVA_BYTE);
        }
    }

    /** NCCL version code (e.g. 22703 for 2.27.3). */
    public int version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check("ncclGetVersion", invoke(() -> (int) getVersion.invokeExact(v)));
            return v.get(JAVA_INT, 0);
        }
    }

    @FunctionalInterface interface NativeCall { int run() throws Throwable; }

    static int invoke(NativeCall c) {
        try {
            return c.run();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }
}
