package dev.speedrun.kernels.cuda;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Finds and opens NVIDIA's vendor libraries (cuBLASLt, NCCL) for FFM. Directories are tried in this
 * order, each with every soname in order: the system property {@value #PROPERTY} and the variable
 * {@value #ENV} (path lists), LD_LIBRARY_PATH, CUDA_HOME/lib64, the usual CUDA folders, then the
 * {@code nvidia/<pkg>/lib} folders of Python site-packages (where pip wheels put them), and last
 * the dynamic loader's own search by bare soname. When nothing loads, the error lists every place
 * tried with the loader's reason.
 */
public final class NativeLibraries {
    public static final String PROPERTY = "speedrun.cuda.lib.path";
    public static final String ENV = "SPEEDRUN_CUDA_LIB_PATH";

    private NativeLibraries() {}

    /** An opened library: its lookup and the file (or bare soname) that loaded. */
    public record Loaded(SymbolLookup lookup, String from) {}

    /** Thrown when no candidate loads; the message names every place tried. */
    public static final class NotFound extends RuntimeException {
        private final List<String> tried;

        NotFound(String what, List<String> tried) {
            super("could not load " + what + "; tried:\n  " + String.join("\n  ", tried)
                    + "\nset " + ENV + " (or -D" + PROPERTY + ") to the folder holding it");
            this.tried = List.copyOf(tried);
        }

        public List<String> tried() { return tried; }
    }

    /** The search directories, in order, for the given environment and explicit setting (pure apart from globbing). */
    public static List<Path> searchDirs(String explicit, Map<String, String> env) {
        Set<Path> dirs = new LinkedHashSet<>();
        addPathList(dirs, explicit);
        addPathList(dirs, env.get(ENV));
        addPathList(dirs, env.get("LD_LIBRARY_PATH"));
        for (String var : List.of("CUDA_HOME", "CUDA_PATH")) {
            String home = env.get(var);
            if (home != null && !home.isBlank()) {
                dirs.add(Path.of(home, "lib64"));
                dirs.add(Path.of(home, "lib"));
            }
        }
        for (String d : List.of("/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib",
                "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/local/lib", "/opt/cuda/lib64"))
            dirs.add(Path.of(d));
        dirs.addAll(globChildren(Path.of("/usr/local"), "cuda-*", "lib64"));
        for (Path sp : sitePackages(env)) dirs.addAll(globChildren(sp.resolve("nvidia"), "*", "lib"));
        return new ArrayList<>(dirs);
    }

    private static void addPathList(Set<Path> dirs, String list) {
        if (list == null || list.isBlank()) return;
        for (String p : list.split(java.io.File.pathSeparator)) if (!p.isBlank()) dirs.add(Path.of(p.trim()));
    }

    /** Python site-packages folders: the virtual/conda environment, user and system installs. */
    static List<Path> sitePackages(Map<String, String> env) {
        List<Path> roots = new ArrayList<>();
        for (String var : List.of("VIRTUAL_ENV", "CONDA_PREFIX")) {
            String v = env.get(var);
            if (v != null && !v.isBlank()) roots.add(Path.of(v, "lib"));
        }
        String home = env.get("HOME");
        if (home != null) roots.add(Path.of(home, ".local", "lib"));
        for (String r : List.of("/usr/local/lib", "/usr/lib", "/opt/conda/lib", "/usr/lib64")) roots.add(Path.of(r));
        List<Path> out = new ArrayList<>();
        for (Path root : roots)
            for (Path py : globChildren(root, "python3*", "")) {
                for (String sp : List.of("site-packages", "dist-packages")) {
                    Path p = py.resolve(sp);
                    if (Files.isDirectory(p)) out.add(p);
                }
            }
        return out;
    }

    private static List<Path> globChildren(Path dir, String glob, String sub) {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) return out;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, glob)) {
            for (Path p : ds) {
                Path c = sub.isEmpty() ? p : p.resolve(sub);
                if (Files.isDirectory(c)) out.add(c);
            }
        } catch (IOException e) {
            // an unreadable folder is simply not a candidate
        }
        out.sort(null);
        return out;
    }

    /** Opens the first candidate that loads, searching {@link #searchDirs} of this process. */
    public static Loaded load(String what, List<String> sonames) {
        return load(what, sonames, searchDirs(System.getProperty(PROPERTY), System.getenv()), true);
    }

    /**
     * Opens the first loadable {@code dir/soname} (dirs outer, sonames inner), then, when
     * {@code systemSearch}, each bare soname through the loader's own search.
     */
    public static Loaded load(String what, List<String> sonames, List<Path> dirs, boolean systemSearch) {
        List<String> tried = new ArrayList<>();
        for (Path dir : dirs) {
            for (String so : sonames) {
                Path f = dir.resolve(so);
                if (!Files.exists(f)) {
                    tried.add(f + " (absent)");
                    continue;
                }
                try {
                    return new Loaded(SymbolLookup.libraryLookup(f, Arena.global()), f.toString());
                } catch (IllegalArgumentException | UnsatisfiedLinkError e) {
                    tried.add(f + " (" + e.getMessage() + ")");
                }
            }
        }
        if (systemSearch) {
            for (String so : sonames) {
                try {
                    return new Loaded(SymbolLookup.libraryLookup(so, Arena.global()), so + " (system loader)");
                } catch (IllegalArgumentException | UnsatisfiedLinkError e) {
                    tried.add(so + " via the system loader (ld.so.cache, RPATH) (" + e.getMessage() + ")");
                }
            }
        }
        throw new NotFound(what + " (" + String.join(" or ", sonames) + ")", tried);
    }
}
