package dev.speedrun.kernels.cuda.emu;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.speedrun.kernels.cuda.NativeLibraries;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * The emulated CUDA kernels: {@code libcudaemu.so}, built by g++ from the unchanged .cu files
 * (src/build/build-cuda-emu.sh) and packed in the jar under {@value #MAIN}, with
 * {@code emu.properties} saying whether it was built and why not. Loaded once per resource folder
 * (copied to a temporary file first when it sits in a jar); binds {@code emu_launch}, the entry
 * point that mirrors {@code cuLaunchKernel}, and the registry of kernel names.
 */
public final class EmuLibrary {
    /** Resource folder of the library built from src/main/cuda. */
    public static final String MAIN = "cuda-emu";

    private static final Map<String, EmuLibrary> LOADED = new HashMap<>();
    private static final Map<String, String> PROBLEMS = new HashMap<>();

    private final String resource;
    private final Path file;
    private final SymbolLookup lookup;
    private final MethodHandle launch;
    private final MethodHandle launchCount;
    private final MethodHandle cublasLtCounts;
    private final List<String> kernels;

    private EmuLibrary(String resource, Path file) {
        this.resource = resource;
        this.file = file;
        this.lookup = SymbolLookup.libraryLookup(file, Arena.global());
        Linker l = Linker.nativeLinker();
        // (name, gx, gy, gz, bx, by, bz, sharedBytes, params, order, strict, seed, workers, err, errLen)
        launch = l.downcallHandle(find("emu_launch"), FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
        launchCount = l.downcallHandle(find("emu_launch_count"), FunctionDescriptor.of(JAVA_LONG, ADDRESS));
        cublasLtCounts = l.downcallHandle(find("emu_cublaslt_counts"), FunctionDescriptor.ofVoid(ADDRESS));
        MethodHandle count = l.downcallHandle(find("emu_kernel_count"), FunctionDescriptor.of(JAVA_INT));
        MethodHandle name = l.downcallHandle(find("emu_kernel_name"), FunctionDescriptor.of(ADDRESS, JAVA_INT));
        List<String> names = new ArrayList<>();
        try {
            int n = (int) count.invokeExact();
            for (int i = 0; i < n; i++) names.add(((MemorySegment) name.invokeExact(i)).reinterpret(256).getString(0));
        } catch (Throwable t) {
            throw new IllegalStateException("reading the kernel registry of " + file, t);
        }
        kernels = List.copyOf(names);
    }

    MemorySegment find(String symbol) {
        return lookup.find(symbol).orElseThrow(() -> new IllegalStateException(file + " has no symbol " + symbol));
    }

    /** The library of the main kernels. */
    public static EmuLibrary main() { return load(MAIN); }

    /** Why the library of {@code resource} cannot be used, empty when it can. */
    public static synchronized String problem(String resource) {
        if (LOADED.containsKey(resource)) return "";
        if (PROBLEMS.containsKey(resource)) return PROBLEMS.get(resource);
        try {
            load(resource);
            return "";
        } catch (RuntimeException e) {
            return PROBLEMS.get(resource);
        }
    }

    /** Loads (once) the library in resource folder {@code resource}; throws saying what is missing. */
    public static synchronized EmuLibrary load(String resource) {
        EmuLibrary lib = LOADED.get(resource);
        if (lib != null) return lib;
        if (PROBLEMS.containsKey(resource)) throw new IllegalStateException(PROBLEMS.get(resource));
        try {
            Properties p = new Properties();
            try (InputStream in = EmuLibrary.class.getClassLoader().getResourceAsStream(resource + "/emu.properties")) {
                if (in == null) throw new IllegalStateException("this build has no emulated CUDA kernels (" + resource + "/emu.properties is missing)");
                p.load(in);
            }
            if (!"true".equals(p.getProperty("built")))
                throw new IllegalStateException("this build has no emulated CUDA kernels: " + p.getProperty("reason", "they were not built")
                        + "; rebuild with g++ and the CUDA headers installed");
            Path file = Files.createTempFile("libcudaemu-", ".so");
            file.toFile().deleteOnExit();
            try (InputStream in = EmuLibrary.class.getClassLoader().getResourceAsStream(resource + "/libcudaemu.so")) {
                if (in == null) throw new IllegalStateException("missing resource " + resource + "/libcudaemu.so");
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            }
            lib = new EmuLibrary(resource, file);
            LOADED.put(resource, lib);
            return lib;
        } catch (IOException | RuntimeException e) {
            String why = e instanceof IllegalStateException ? e.getMessage() : "loading the emulated CUDA kernels failed: " + e;
            PROBLEMS.put(resource, why);
            throw new IllegalStateException(why, e);
        }
    }

    public String resource() { return resource; }

    /** Names of the kernels the library registers. */
    public List<String> kernels() { return kernels; }

    /** The library for FFM lookups of the other APIs it exports (the cuBLASLt reference). */
    public NativeLibraries.Loaded loaded() { return new NativeLibraries.Loaded(lookup, file.toString()); }

    public boolean has(String symbol) { return lookup.find(symbol).isPresent(); }

    private void callInt(String symbol, int value) {
        try {
            Linker.nativeLinker().downcallHandle(find(symbol), FunctionDescriptor.ofVoid(JAVA_INT)).invokeExact(value);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(symbol, t);
        }
    }

    /** The compute capability the cuBLASLt reference answers for (FP8 needs 89+). */
    public void setCublasLtComputeCapability(int cc) { callInt("emu_cublaslt_set_compute_capability", cc); }

    /** Test hook: the cuBLASLt reference's heuristic finds no algorithm for anything while set. */
    public void setCublasLtRefuseAll(boolean refuse) { callInt("emu_cublaslt_refuse_all", refuse ? 1 : 0); }

    /**
     * Runs {@code name} like cuLaunchKernel; {@code params} is the array of pointers to the
     * argument values. Throws with the emulator's reason (naming kernel, block and thread) on failure.
     */
    public void launch(String name, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, MemorySegment params,
                       EmuDevice.Options o) {
        try (Arena a = Arena.ofConfined()) {
            launch(a.allocateFrom(name), name, gx, gy, gz, bx, by, bz, sharedBytes, params, o);
        }
    }

    /** The reason buffer of emu_launch, one per launching thread (a launch allocates nothing). */
    private static final ThreadLocal<MemorySegment> ERR = ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(4096));

    /** As above with the kernel's name already in native memory ({@code cName}, made once per kernel). */
    public void launch(MemorySegment cName, String name, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                       MemorySegment params, EmuDevice.Options o) {
        MemorySegment err = ERR.get();
        int rc;
        try {
            rc = (int) launch.invokeExact(cName, gx, gy, gz, bx, by, bz, sharedBytes, params, o.order().ordinal(),
                    o.strictBarriers() ? 1 : 0, o.seed(), o.workers(), err, (int) err.byteSize());
        } catch (Throwable t) {
            throw new IllegalStateException("emu_launch(" + name + ")", t);
        }
        if (rc != 0) throw new EmuLaunchException("emulated launch of " + name + " (grid " + gx + "×" + gy + "×" + gz + ", block "
                + bx + "×" + by + "×" + bz + ") failed: " + err.getString(0));
    }

    /**
     * Launches of kernel {@code name} the library has run since it was loaded, all devices of the
     * process together (the emulator's own count, independent of the Java side's bookkeeping).
     */
    public long launchCount(String name) {
        try (Arena a = Arena.ofConfined()) {
            return (long) launchCount.invokeExact(a.allocateFrom(name));
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("emu_launch_count(" + name + ")", t);
        }
    }

    /** cuBLASLt reference GEMMs run since load, all devices together: {calls, FLOPs (2·m·n·k per batch entry)}. */
    public double[] cublasLtCounts() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(JAVA_DOUBLE, 2);
            cublasLtCounts.invokeExact(out);
            return out.toArray(JAVA_DOUBLE);
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException("emu_cublaslt_counts", t);
        }
    }

    /** A launch the emulator rejected or a kernel that failed (deadlock, partial barrier, bad warp collective). */
    public static final class EmuLaunchException extends RuntimeException {
        EmuLaunchException(String msg) { super(msg); }
    }
}
