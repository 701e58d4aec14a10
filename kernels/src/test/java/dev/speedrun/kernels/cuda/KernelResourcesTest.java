package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The fatbins packed by the build: present (with the fatbin magic) exactly when nvcc was available. */
class KernelResourcesTest {
    static boolean nvccOnPath() {
        String path = System.getenv("PATH");
        if (path == null) return false;
        return Stream.of(path.split(java.io.File.pathSeparator)).anyMatch(d -> Files.isExecutable(Path.of(d, "nvcc")));
    }

    @Test void buildRecordsWhetherKernelsWereCompiled() {
        assertFalse(KernelResources.properties().isEmpty(), "cuda/kernels.properties is written by every build");
        boolean skipped = KernelResources.missingReason().contains("-Dcuda.skip");
        if (nvccOnPath() && !skipped)
            assertTrue(KernelResources.built(), "nvcc is on PATH but the build has no kernels: " + KernelResources.missingReason());
        if (!KernelResources.built())
            assertTrue(skipped || KernelResources.missingReason().contains("nvcc"), KernelResources.missingReason());
    }

    @Test void everyModuleIsAFatbinAndCoversTheKernelTable() throws IOException {
        if (!KernelResources.built()) return;   // the test above already checked the reason
        List<String> sources;
        try (Stream<Path> s = Files.list(KernelSignatureTest.CUDA_DIR)) {
            sources = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cu")).map(n -> n.replace(".cu", "")).sorted().toList();
        }
        assertEquals(sources, KernelResources.modules().stream().sorted().toList(), "one fatbin per .cu file");
        for (String m : KernelResources.modules()) {
            byte[] fb = KernelResources.fatbin(m);
            assertTrue(fb.length > 64, m + ".fatbin is empty");
            assertArrayEquals(KernelResources.FATBIN_MAGIC, Arrays.copyOf(fb, 4), m + ".fatbin does not start with the fatbin magic");
        }
        TreeSet<String> needed = new TreeSet<>();
        for (Kernel k : Kernel.values()) needed.add(k.module());
        assertTrue(KernelResources.modules().containsAll(needed), "modules " + KernelResources.modules() + " miss some of " + needed);
        String props = KernelResources.properties().getProperty("arch");
        assertTrue(props.contains("sm_80") && props.contains("sm_90"), props);
    }
}
