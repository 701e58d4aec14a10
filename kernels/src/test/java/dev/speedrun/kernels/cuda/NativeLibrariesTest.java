package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NativeLibrariesTest {
    @Test void searchOrderIsExplicitThenEnvThenLdLibraryPathThenCudaFolders(@TempDir Path tmp) throws IOException {
        Path a = Files.createDirectory(tmp.resolve("a")), b = Files.createDirectory(tmp.resolve("b")),
                c = Files.createDirectory(tmp.resolve("c")), home = Files.createDirectory(tmp.resolve("cuda"));
        List<Path> dirs = NativeLibraries.searchDirs(a.toString(),
                Map.of(NativeLibraries.ENV, b.toString(), "LD_LIBRARY_PATH", c + ":" + a, "CUDA_HOME", home.toString()));
        assertEquals(List.of(a, b, c, home.resolve("lib64")), dirs.subList(0, 4), "explicit, env, LD_LIBRARY_PATH (deduplicated), CUDA_HOME");
        assertTrue(dirs.indexOf(Path.of("/usr/local/cuda/lib64")) > 3);
    }

    @Test void pipWheelFoldersAreSearched(@TempDir Path venv) throws IOException {
        Path lib = Files.createDirectories(venv.resolve("lib/python3.12/site-packages/nvidia/cublas/lib"));
        List<Path> dirs = NativeLibraries.searchDirs(null, Map.of("VIRTUAL_ENV", venv.toString()));
        assertTrue(dirs.contains(lib), dirs.toString());
    }

    @Test void failureListsEveryPlaceTried(@TempDir Path tmp) throws IOException {
        Path broken = tmp.resolve("libfake.so.13");
        Files.writeString(broken, "not an ELF file");
        NativeLibraries.NotFound e = assertThrows(NativeLibraries.NotFound.class,
                () -> NativeLibraries.load("fake", List.of("libfake.so.13", "libfake.so.12"), List.of(tmp, tmp.resolve("none")), true));
        String msg = e.getMessage();
        for (String p : List.of(broken.toString(), tmp.resolve("libfake.so.12") + " (absent)", tmp.resolve("none/libfake.so.13") + " (absent)",
                "libfake.so.12 via the system loader", NativeLibraries.ENV))
            assertTrue(msg.contains(p), "message lacks " + p + ":\n" + msg);
        assertEquals(6, e.tried().size(), "2 folders × 2 sonames + 2 system lookups");
    }

    @Test void loadsFromAnExplicitFolder() {
        Path dir = Path.of("/lib/x86_64-linux-gnu");
        assumeTrue(Files.exists(dir.resolve("libm.so.6")), "no libm.so.6 in " + dir);
        NativeLibraries.Loaded l = NativeLibraries.load("libm", List.of("libm.so.99", "libm.so.6"), List.of(dir), false);
        assertEquals(dir.resolve("libm.so.6").toString(), l.from());
        assertTrue(l.lookup().find("cos").isPresent());
    }

    @Test void cublasLtAndNcclReportWhereTheyLooked() {
        try {
            CublasLt.load();
        } catch (NativeLibraries.NotFound e) {
            assertTrue(e.getMessage().contains("libcublasLt.so.13") && e.getMessage().contains("libcublasLt.so.12"), e.getMessage());
            assertTrue(e.getMessage().contains("/usr/local/cuda/lib64"), e.getMessage());
        }
        try {
            Nccl.load();
        } catch (NativeLibraries.NotFound e) {
            assertTrue(e.getMessage().contains("libnccl.so.2"), e.getMessage());
        }
    }
}
