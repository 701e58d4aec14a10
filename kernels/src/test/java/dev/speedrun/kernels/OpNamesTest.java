package dev.speedrun.kernels;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * One name per op on every layer: for each {@link Ops} op (its void methods), a case-insensitive search for its
 * camelCase or snake_case name finds the argument checks ({@link OpContract}), the CPU family
 * class that computes it (cpu/Cpu*.java other than the CpuOps facade), the CUDA launch
 * (CudaOps) and a kernel source (src/main/cuda/*.cu, as a kernel name or in the comment that
 * says which op a shared kernel also serves).
 */
class OpNamesTest {
    static final Path JAVA = Path.of("src/main/java/dev/speedrun/kernels"), CUDA = Path.of("src/main/cuda");

    static String snake(String camel) { return camel.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT); }

    static String read(Path p) {
        try { return Files.readString(p).toLowerCase(Locale.ROOT); } catch (IOException e) { throw new RuntimeException(e); }
    }

    static List<Path> list(Path dir, String glob) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileSystem().getPathMatcher("glob:" + glob).matches(p.getFileName())).sorted().toList();
        }
    }

    @Test void everyOpIsFoundByItsNameOnEveryLayer() throws IOException {
        String contract = read(JAVA.resolve("OpContract.java")), cuda = read(JAVA.resolve("cuda/CudaOps.java"));
        List<Path> families = list(JAVA.resolve("cpu"), "Cpu*.java").stream()
                .filter(p -> !p.getFileName().toString().startsWith("CpuOps")).toList();
        List<String> kernels = list(CUDA, "*.cu").stream().map(OpNamesTest::read).toList();
        List<String> problems = new ArrayList<>();
        for (Method m : Ops.class.getMethods()) {
            if (m.getReturnType() != void.class) continue;   // backend() and fp8Unavailable() are queries, not ops
            String camel = m.getName().toLowerCase(Locale.ROOT), snake = snake(m.getName());
            if (!contract.contains(" " + camel + "(")) problems.add(m.getName() + ": no OpContract." + m.getName());
            if (families.stream().noneMatch(p -> read(p).contains("static void " + camel + "(")))
                problems.add(m.getName() + ": no CPU family class defines it");
            if (!cuda.contains("public void " + camel + "(")) problems.add(m.getName() + ": not in CudaOps");
            if (kernels.stream().noneMatch(k -> k.contains(snake) || k.contains(camel))) problems.add(m.getName() + ": no kernel names " + snake);
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }
}
