package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.tensor.DType;
import dev.speedrun.testsupport.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Same state, same bytes; the returned checksum; a failing write leaves nothing under the final name. */
class CheckpointIntegrityTest {
    @TempDir Path dir;

    private static final JsonNode FX = Fixtures.json("model_tiny.json");
    private static final GptConfig CFG = TestSupport.config(FX.get("config"));

    private static Gpt fixtureModel() {
        Gpt g = new Gpt(CFG, Kernels.cpu(), DType.F32, Fixtures.ints(FX.get("tokens")).length, 1, 0);
        Checkpoints.load(g, Fixtures.dir().resolve(FX.get("weights_file").asText()));
        return g;
    }

    private static String sha256(Path f) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(f)));
    }

    @Test void sameStateGivesTheSameBytesWhateverTheMetadataOrder() throws Exception {
        try (Gpt g = fixtureModel()) {
            // the same entries inserted in opposite orders (a Map.of's order also varies between JVMs)
            Map<String, String> ab = new LinkedHashMap<>(), ba = new LinkedHashMap<>();
            List<String> keys = List.of("step", "a::step", "z::step", "tokens");
            for (String k : keys) ab.put(k, k + "-value");
            for (String k : keys.reversed()) ba.put(k, k + "-value");
            Path f1 = dir.resolve("one.safetensors"), f2 = dir.resolve("two.safetensors");
            String d1 = Checkpoints.save(g, f1, DType.F32, ab), d2 = Checkpoints.save(g, f2, DType.F32, ba);
            assertEquals(-1, Files.mismatch(f1, f2), "identical state wrote different bytes");
            assertEquals(sha256(f1), d1, "save returns the SHA-256 of the file it wrote");
            assertEquals(d1, d2);
        }
    }

    @Test void aWriteFailureLeavesNoFileUnderItsNameAndKeepsTheOldOne() throws Exception {
        try (Gpt g = fixtureModel()) {
            Path f = dir.resolve("model.safetensors");
            Checkpoints.save(g, f, DType.F32, Map.of("step", "1"));
            byte[] before = Files.readAllBytes(f);
            long[] seen = {0};
            // fail half-way through the data, as a disk filling up would
            Checkpoints.WriteHook old = Checkpoints.setWriteHook((target, offset, bytes) -> {
                seen[0] = Math.max(seen[0], offset);
                if (offset > before.length / 2) throw new IOException("No space left on device");
            });
            try {
                var e = assertThrows(java.io.UncheckedIOException.class, () -> Checkpoints.save(g, f, DType.F32, Map.of("step", "2")));
                assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("No space left"), e.getMessage());
            } finally {
                Checkpoints.setWriteHook(old);
            }
            assertTrue(seen[0] > before.length / 2, "the hook saw the writes");
            assertArrayEquals(before, Files.readAllBytes(f), "the previous file is intact");
            try (var files = Files.list(dir)) {
                assertEquals(List.of(f), files.toList(), "no temporary or half-written file is left");
            }
        }
    }
}
