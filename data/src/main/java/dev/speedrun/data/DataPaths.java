package dev.speedrun.data;

import java.nio.file.Path;

/** Default locations and the shard naming convention. */
public final class DataPaths {
    private DataPaths() {}

    /** The repository root: system property {@code train-app.root} (set by ./train-app), else the working directory. */
    public static Path repoRoot() {
        String r = System.getProperty("train-app.root");
        return (r == null || r.isBlank() ? Path.of("") : Path.of(r)).toAbsolutePath();
    }

    /** Default FineWeb folder: {@code data/fineweb10B} under the repository root (as in the record). */
    public static Path defaultFineWebDir() { return repoRoot().resolve("data").resolve("fineweb10B"); }

    /** Training shards in {@code dir}: {@code *_train_*.bin}, sorted by name. */
    public static java.util.List<Path> trainShards(Path dir) { return Shard.list(dir, "*_train_*.bin"); }

    /** Validation shards in {@code dir}: {@code *_val_*.bin}, sorted by name. */
    public static java.util.List<Path> valShards(Path dir) { return Shard.list(dir, "*_val_*.bin"); }
}
