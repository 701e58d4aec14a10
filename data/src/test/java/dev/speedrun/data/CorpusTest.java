package dev.speedrun.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CorpusTest {
    @TempDir Path tmp;

    static int[] all(Path f) {
        try (Shard s = Shard.open(f)) {
            int[] t = new int[s.size()];
            s.copy(0, t, 0, t.length);
            return t;
        }
    }

    @Test void tokenizerWritesBosPerDocumentInOrderWithValSplit() {
        List<String> docs = new ArrayList<>();
        for (int i = 0; i < 50; i++) docs.add(i == 7 ? "   " : "Document number " + i + " says hello world.");
        var o = new CorpusTokenizer.Options(tmp, "c", 0.2, 100, 2, 0);
        var s = CorpusTokenizer.tokenize(docs.iterator(), o, null);
        assertEquals(49, s.documents());
        assertEquals(1, s.skippedEmpty());
        assertEquals(10, s.valDocuments(), "every 5th document starting with the first");
        assertTrue(s.trainShards().size() > 1, "shards of 100 tokens");
        // Decode the train split back: the documents in order, each after one BOS.
        StringBuilder text = new StringBuilder();
        long bos = 0;
        for (Path f : s.trainShards()) {
            for (int t : all(f)) {
                if (t == Shard.BOS) { bos++; text.append('|'); } else text.append(Gpt2Tokenizer.decode(new int[] {t}));
            }
        }
        assertEquals(s.trainDocuments(), bos);
        assertTrue(text.toString().startsWith("|Document number 1 says hello world.|Document number 2 says"), text.substring(0, 80));
        assertEquals(Shard.BOS, all(s.valShards().get(0))[0]);
        assertEquals(s.trainTokens(), s.trainShards().stream().mapToLong(f -> all(f).length).sum());
    }

    @Test void gpt2EncodingIsR50k() {
        // "Hello world" in GPT-2 BPE is [15496, 995] (well-known ids of the r50k vocabulary).
        assertArrayEquals(new int[] {15496, 995}, Gpt2Tokenizer.encode("Hello world"));
        assertEquals("Hello world", Gpt2Tokenizer.decode(Gpt2Tokenizer.encode("Hello world")));
    }

    @Test void sampleCorpusIsDeterministicVariedAndTrainable() throws Exception {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        var s = SampleCorpus.generate(a, 60_000, 5, null);
        SampleCorpus.generate(b, 60_000, 5, null);
        assertTrue(SampleCorpus.isPresent(a, 60_000, 5));
        assertFalse(SampleCorpus.isPresent(a, 60_000, 6));
        assertTrue(s.tokens() >= 60_000);
        for (Path f : s.trainShards()) assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(b.resolve(f.getFileName())));
        int[] t = all(DataPaths.trainShards(a).get(0));
        int[] bos;
        try (Shard sh = Shard.open(DataPaths.trainShards(a).get(0))) { bos = sh.bosPositions(Shard.BOS); }
        int min = Integer.MAX_VALUE, max = 0;
        for (int i = 0; i + 1 < bos.length; i++) { min = Math.min(min, bos[i + 1] - bos[i]); max = Math.max(max, bos[i + 1] - bos[i]); }
        assertTrue(min < 64 && max > 1000, "document lengths vary: " + min + ".." + max);
        assertFalse(DataPaths.valShards(a).isEmpty());
        // The training batcher can run over it.
        try (TrainBatcher tb = new TrainBatcher(DataPaths.trainShards(a), 1, 0)) {
            Batch batch = tb.next(4096, 2048);
            assertEquals(Shard.BOS, batch.inputs()[0]);
        }
        assertEquals(t.length, Shard.checkHeader(DataPaths.trainShards(a).get(0)));
        // ensure() reuses it.
        long mtime = Files.getLastModifiedTime(s.trainShards().get(0)).toMillis();
        SampleCorpus.ensure(a, 60_000, 5, null);
        assertEquals(mtime, Files.getLastModifiedTime(s.trainShards().get(0)).toMillis());
    }
}
