package dev.speedrun.testsupport;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The repository root, for tests run outside Maven. Maven runs each module's tests in the
 * module's folder, so relative paths differ per module; the root is the nearest folder upwards
 * that holds the Maven wrapper's {@code .mvn} folder (as Maven's own
 * {@code maven.multiModuleProjectDirectory}).
 */
public final class ProjectRoot {
    private ProjectRoot() {}

    /** The repository root above the working directory; fails saying where it looked. */
    public static Path find() {
        Path start = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        for (Path p = start; p != null; p = p.getParent())
            if (Files.isDirectory(p.resolve(".mvn")) && Files.isRegularFile(p.resolve("pom.xml"))) return p;
        throw new IllegalStateException("no repository root (a folder with .mvn/ and pom.xml) above " + start);
    }

    /** The project's built-in configurations ({@code configs/}; system property {@code configs.dir}). */
    public static Path configs() {
        String prop = System.getProperty("configs.dir");
        Path p = prop != null ? Path.of(prop) : find().resolve("configs");
        if (!Files.isDirectory(p)) throw new IllegalStateException("configs folder " + p.toAbsolutePath() + " does not exist");
        return p;
    }
}
