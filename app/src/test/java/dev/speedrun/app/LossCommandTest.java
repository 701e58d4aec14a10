package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.speedrun.testsupport.Fixtures;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** {@code ./train-app loss} reproduces the tiny fixture model's results. */
class LossCommandTest {
    private static Path fixtures() { return Fixtures.dir(); }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"f64, 1e-9", "f32, 1e-4"})
    void reproducesFixture(String dtype, double tol) throws Exception {
        Path casePath = fixtures().resolve("model_tiny.json");
        JsonNode fx = new ObjectMapper().readTree(casePath.toFile());
        CliRun r = CliRun.of("loss", "--case", casePath.toString(),
                "--weights", fixtures().resolve(fx.get("weights_file").asText()).toString(), "--dtype", dtype, "--backend", "cpu");
        String buf = r.out();
        assertEquals(0, r.code(), () -> "exit code; output:\n" + r.all());
        String[] lines = buf.strip().split("\n");
        JsonNode results = fx.get("results");
        assertEquals(results.size(), lines.length, "one line per result:\n" + buf);
        double worst = 0;
        for (int i = 0; i < lines.length; i++) {
            JsonNode got = new ObjectMapper().readTree(lines[i]);
            double want = results.get(i).get("loss").asDouble(), loss = got.get("loss").asDouble();
            double rel = Math.abs(loss - want) / Math.abs(want);
            worst = Math.max(worst, rel);
            assertTrue(rel <= tol, "result " + i + ": " + loss + " vs " + want);
            assertEquals(results.get(i).get("mode").asText(), got.get("mode").asText());
        }
        System.out.printf("loss command %s: worst relative error %.3e%n", dtype, worst);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"missing.json"})
    void missingCaseIsAnError(String name) {
        CliRun r = CliRun.of("loss", "--case", fixtures().resolve(name).toString());
        assertNotEquals(0, r.code());
        assertTrue(r.err().contains(name), r.err());
    }
}
