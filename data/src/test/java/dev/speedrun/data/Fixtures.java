package dev.speedrun.data;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads the shared fixture files (system property {@code fixtures.dir}). */
final class Fixtures {
    private Fixtures() {}

    static JsonNode json(String name) throws IOException {
        String dir = System.getProperty("fixtures.dir");
        if (dir == null) throw new IllegalStateException("system property fixtures.dir is not set (run through Maven)");
        Path p = Path.of(dir, name);
        if (!Files.isRegularFile(p)) throw new IllegalStateException("fixture " + p + " is missing (fixtures.dir=" + dir + ")");
        return new ObjectMapper().readTree(p.toFile());
    }

    static int[] ints(JsonNode arr) {
        int[] r = new int[arr.size()];
        for (int i = 0; i < r.length; i++) r[i] = arr.get(i).intValue();
        return r;
    }
}
