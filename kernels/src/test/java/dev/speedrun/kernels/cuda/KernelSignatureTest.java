package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.cuda.Kernel.Arg;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The Java kernel table ({@link Kernel}) against the {@code extern "C" __global__} signatures of
 * src/main/cuda/*.cu: same kernels, same module, same parameter kinds and names in the same order.
 * A launch with a wrong argument list would otherwise only show on a GPU.
 */
class KernelSignatureTest {
    static final Path CUDA_DIR = Path.of("src/main/cuda");
    private static final Pattern KERNEL = Pattern.compile("extern\\s+\"C\"\\s+__global__\\s+void\\s+(\\w+)\\s*\\(([^)]*)\\)", Pattern.DOTALL);

    record Sig(String module, List<Arg> types, List<String> names) {}

    static Map<String, Sig> parseSources() throws IOException {
        assertTrue(Files.isDirectory(CUDA_DIR), "kernel sources not found at " + CUDA_DIR.toAbsolutePath());
        Map<String, Sig> out = new LinkedHashMap<>();
        try (Stream<Path> files = Files.list(CUDA_DIR)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".cu")).sorted().toList()) {
                String module = f.getFileName().toString().replace(".cu", "");
                String src = Files.readString(f).replaceAll("//[^\n]*", "");
                Matcher m = KERNEL.matcher(src);
                while (m.find()) {
                    List<Arg> types = new ArrayList<>();
                    List<String> names = new ArrayList<>();
                    for (String p : m.group(2).split(",")) {
                        String t = p.trim().replaceAll("\\s+", " ");
                        names.add(t.replaceAll(".*[\\s*]", ""));
                        types.add(kind(t, f + ": " + m.group(1)));
                    }
                    Sig prev = out.put(m.group(1), new Sig(module, types, names));
                    assertTrue(prev == null, "kernel " + m.group(1) + " defined twice");
                }
            }
        }
        return out;
    }

    static Arg kind(String param, String where) {
        if (param.contains("*")) return Arg.PTR;
        if (param.startsWith("long long ")) return Arg.I64;
        if (param.startsWith("int ")) return Arg.I32;
        if (param.startsWith("float ")) return Arg.F32;
        throw new AssertionError(where + ": parameter '" + param + "' has a type the launcher cannot pass");
    }

    @Test void everyKernelMatchesItsSource() throws IOException {
        Map<String, Sig> src = parseSources();
        List<String> problems = new ArrayList<>();
        for (Kernel k : Kernel.values()) {
            Sig s = src.get(k.cName());
            if (s == null) { problems.add(k + ": no kernel " + k.cName() + " in the sources"); continue; }
            if (!s.module().equals(k.module())) problems.add(k + ": in " + s.module() + ".cu, table says " + k.module());
            if (!s.types().equals(k.params())) problems.add(k + ": source " + s.types() + " vs table " + k.params());
            if (!s.names().equals(k.paramNames())) problems.add(k + ": source names " + s.names() + " vs table " + k.paramNames());
        }
        for (String name : src.keySet())
            if (Stream.of(Kernel.values()).noneMatch(k -> k.cName().equals(name))) problems.add("kernel " + name + " is not in Kernel");
        assertTrue(problems.isEmpty(), String.join("\n", problems));
        assertFalse(src.isEmpty());
    }

    @Test void everyPointerTensorHasADtypeCodeOrIsTypedInC() throws IOException {
        // Untyped (void*) tensors must be followed by their dtype code, so no kernel reads a BF16
        // tensor as F32; typed pointers (float*, int*) are F32 statistics or I32 ids by contract.
        Map<String, Sig> src = parseSources();
        String all = String.join("\n", Files.list(CUDA_DIR).filter(p -> p.toString().endsWith(".cu")).map(p -> {
            try { return Files.readString(p); } catch (IOException e) { throw new RuntimeException(e); }
        }).toList());
        List<String> problems = new ArrayList<>();
        Matcher m = KERNEL.matcher(all.replaceAll("//[^\n]*", ""));
        while (m.find()) {
            String[] ps = m.group(2).split(",");
            for (int i = 0; i < ps.length; i++) {
                String p = ps[i].trim().replaceAll("\\s+", " ");
                String next = i + 1 < ps.length ? ps[i + 1].trim().replaceAll("\\s+", " ") : "";
                if (p.contains("void*") && !next.matches("int \\w*(dt|fmt)"))
                    problems.add(m.group(1) + ": '" + p + "' is not followed by a dtype code");
            }
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
        assertFalse(src.isEmpty());
    }

    /**
     * Suffixes a kernel adds to the name of the op it serves when the op takes several kernels:
     * the passes of a backward ({@code _delta}, {@code _dq}, {@code _dkv} of attention_backward),
     * one gradient each ({@code _dx}, {@code _dy}, {@code _dw}, {@code _params} for dw and
     * dLambda together, {@code _dot} for a shared dot product), the two passes of a deterministic
     * reduction ({@code _partial}, then {@code _finish} or {@code _scale}), and the three steps of
     * variance_reduce ({@code _rows}, {@code _matrix}, {@code _apply}). {@link #VARIANT} may follow.
     */
    static final List<String> SUFFIXES = List.of("_delta", "_dq", "_dkv", "_dx", "_dy", "_dw", "_params", "_dot",
            "_partial", "_finish", "_scale", "_rows", "_matrix", "_apply");

    /**
     * The last part of a kernel that computes the same as the kernel named without it, on tensor
     * cores (mma.sync): {@code attention_mma}, {@code attention_backward_dq_mma}.
     */
    static final String VARIANT = "_mma";

    static String snake(String camel) { return camel.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT); }

    @Test void everyKernelIsNamedAfterTheOpItServes() throws IOException {
        // Ops methods, plus the GPU-only public methods of CudaOps (matmulTiled)
        Set<String> ops = new TreeSet<>();
        for (Method m : Ops.class.getMethods()) ops.add(snake(m.getName()));
        for (Method m : CudaOps.class.getDeclaredMethods())
            if (Modifier.isPublic(m.getModifiers()) && !Modifier.isStatic(m.getModifiers())) ops.add(snake(m.getName()));
        List<String> problems = new ArrayList<>();
        for (String name : parseSources().keySet()) {
            String kernel = name.endsWith(VARIANT) ? name.substring(0, name.length() - VARIANT.length()) : name;
            boolean named = ops.contains(kernel)
                    || SUFFIXES.stream().anyMatch(s -> kernel.endsWith(s) && ops.contains(kernel.substring(0, kernel.length() - s.length())));
            if (!named) problems.add(name + " is not the snake_case of an Ops (or public CudaOps) method plus one of " + SUFFIXES
                    + " (then optionally " + VARIANT + ")");
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
        for (Kernel k : Kernel.values()) assertEquals(k.name().toLowerCase(Locale.ROOT), k.cName());
    }

    @Test void launchArgumentsAreCheckedAgainstTheTable() {
        Object[] ok = {new Kernel.Ptr(256), 0, 10L, 1.5f};
        Kernel.FILL.checkArgs(ok);
        IllegalArgumentException wrongType = assertThrows(IllegalArgumentException.class,
                () -> Kernel.FILL.checkArgs(new Kernel.Ptr(256), 0, 10, 1.5f));
        assertTrue(wrongType.getMessage().contains("(n)") && wrongType.getMessage().contains("Long"), wrongType.getMessage());
        IllegalArgumentException wrongCount = assertThrows(IllegalArgumentException.class, () -> Kernel.FILL.checkArgs(new Kernel.Ptr(256), 0));
        assertTrue(wrongCount.getMessage().contains("takes 4 arguments"), wrongCount.getMessage());
        // kind() above parses each of these C types; a new kind needs a case there
        assertEquals(4, EnumSet.allOf(Arg.class).size());
    }
}
