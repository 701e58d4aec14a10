package dev.speedrun.testsupport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FixturesTest {
    /** The project's own copy, whatever -Dfixtures.dir says (that may name another case set). */
    static Path projectCopy() { return ProjectRoot.find().resolve("fixtures"); }

    static TreeSet<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            TreeSet<String> n = new TreeSet<>();
            s.forEach(p -> n.add(p.getFileName().toString()));
            return n;
        }
    }

    /**
     * The reference fixtures are maintained outside the project ({@code ../shared/fixtures} beside
     * the repository, where that exists); the project's copy must equal them byte for byte, so the
     * two cannot drift.
     */
    @Test void projectCopyEqualsTheSharedFixtures() throws IOException {
        Path shared = ProjectRoot.find().resolveSibling("shared").resolve("fixtures");
        assumeTrue(Files.isDirectory(shared), "no " + shared + " beside the repository (a user's clone): nothing to compare the project's fixtures with");
        Path mine = projectCopy();
        assertEquals(names(shared), names(mine), "file names of " + mine + " vs " + shared);
        for (String n : names(shared))
            assertArrayEquals(Files.readAllBytes(shared.resolve(n)), Files.readAllBytes(mine.resolve(n)), "fixtures/" + n + " differs from " + shared.resolve(n));
    }

    @Test void theProjectCopyHasEveryFixtureItsReadmeLists() throws IOException {
        Path mine = projectCopy();
        String readme = Files.readString(mine.resolve("README.md"));
        TreeSet<String> present = names(mine);
        for (String n : present) if (!n.equals("README.md")) assertTrue(readme.contains("`" + n + "`"), n + " is not described in " + mine.resolve("README.md"));
        assertTrue(present.size() > 1, "fixtures folder " + mine + " is empty");
    }

    @Test void thePropertyChoosesTheFolder(@TempDir Path other) throws IOException {
        String before = System.getProperty(Fixtures.PROPERTY);
        try {
            Files.writeString(other.resolve("x.json"), "{\"a\": [[1, 2, 3], [4, 5, 6]], \"t\": [7, 8]}");
            Files.writeString(other.resolve("y.csv"), "h\n1\n");
            System.setProperty(Fixtures.PROPERTY, other.toString());
            assertEquals(other, Fixtures.dir());
            var n = Fixtures.json("x.json");
            assertArrayEquals(new double[] {1, 2, 3, 4, 5, 6}, Fixtures.doubles(n.get("a")));
            assertArrayEquals(new long[] {2, 3}, Fixtures.dims(n.get("a")));
            assertArrayEquals(new int[] {7, 8}, Fixtures.ints(n.get("t")));
            assertEquals(List.of("h", "1"), Fixtures.lines("y.csv"));
            var e = assertThrows(IllegalStateException.class, () -> Fixtures.file("missing.json"));
            assertTrue(e.getMessage().contains("missing.json") && e.getMessage().contains(Fixtures.PROPERTY), e.getMessage());
            System.setProperty(Fixtures.PROPERTY, other.resolve("nope").toString());
            var e2 = assertThrows(IllegalStateException.class, Fixtures::dir);
            assertTrue(e2.getMessage().contains("nope") && e2.getMessage().contains("-D" + Fixtures.PROPERTY), e2.getMessage());
        } finally {
            if (before == null) System.clearProperty(Fixtures.PROPERTY);
            else System.setProperty(Fixtures.PROPERTY, before);
        }
    }

    @Test void withoutThePropertyTheProjectCopyIsUsed() {
        String before = System.getProperty(Fixtures.PROPERTY);
        try {
            System.clearProperty(Fixtures.PROPERTY);
            assertEquals(projectCopy(), Fixtures.dir());
        } finally {
            if (before != null) System.setProperty(Fixtures.PROPERTY, before);
        }
    }

    @Test void jsonFixturesParse() throws IOException {
        for (String n : names(projectCopy()))
            if (n.endsWith(".json")) assertTrue(new ObjectMapper().readTree(projectCopy().resolve(n).toFile()).isObject(), n);
    }
}
