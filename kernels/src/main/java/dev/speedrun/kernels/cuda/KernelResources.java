package dev.speedrun.kernels.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Properties;

/**
 * The compiled kernels packed in this jar under {@code cuda/}: one fatbin per .cu file and
 * {@code kernels.properties} (built=true|false, modules, nvcc, arch) written by the build.
 */
public final class KernelResources {
    public static final String DIR = "cuda/";
    /** First four bytes of a CUDA fatbin (magic 0xBA55ED50, little-endian). */
    public static final byte[] FATBIN_MAGIC = {0x50, (byte) 0xED, 0x55, (byte) 0xBA};

    private KernelResources() {}

    public static Properties properties() {
        Properties p = new Properties();
        try (InputStream in = KernelResources.class.getClassLoader().getResourceAsStream(DIR + "kernels.properties")) {
            if (in != null) p.load(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p;
    }

    /** Whether this build carries compiled kernels. */
    public static boolean built() { return "true".equals(properties().getProperty("built")); }

    /** Why there are no kernels (empty when there are). */
    public static String missingReason() {
        Properties p = properties();
        if (p.isEmpty()) return "this build has no CUDA kernels (cuda/kernels.properties is missing from the kernels jar)";
        if (!"true".equals(p.getProperty("built")))
            return "this build has no CUDA kernels: " + p.getProperty("reason", "nvcc was not available") + "; rebuild with nvcc on PATH";
        return "";
    }

    /** Module names (file stems) listed by the build. */
    public static List<String> modules() {
        String m = properties().getProperty("modules", "");
        return m.isBlank() ? List.of() : List.of(m.split(","));
    }

    /** The fatbin bytes of {@code module}; throws naming the resource when absent. */
    public static byte[] fatbin(String module) {
        String name = DIR + module + ".fatbin";
        try (InputStream in = KernelResources.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException("missing kernel resource " + name + "; " + missingReason());
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + name, e);
        }
    }
}
