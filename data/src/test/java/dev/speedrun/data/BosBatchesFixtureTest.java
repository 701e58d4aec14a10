package dev.speedrun.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.testsupport.Fixtures;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/** Every case of fixtures/bos_batches.json, through the real shard file and batcher. */
class BosBatchesFixtureTest {
    @TempDir Path tmp;

    @TestFactory
    List<DynamicTest> everyCase() throws Exception {
        JsonNode root = Fixtures.json("bos_batches.json");
        int[] tokens = Fixtures.ints(root.get("tokens"));
        int bosId = root.get("bos_id").intValue();
        List<DynamicTest> tests = new ArrayList<>();
        for (int c = 0; c < root.get("cases").size(); c++) {
            JsonNode kase = root.get("cases").get(c);
            int n = kase.get("num_tokens_local").intValue();
            int maxSeqLen = kase.get("max_seq_len").intValue();
            int world = kase.get("world_size").intValue();
            int caseNo = c;
            tests.add(DynamicTest.dynamicTest("case " + c + " (n=" + n + ", max_seq_len=" + maxSeqLen + ", world=" + world + ")", () -> {
                Path shard = tmp.resolve("case" + caseNo + "_train_000000.bin");
                ShardWriter.write(shard, tokens);
                int[] bos;
                try (Shard s = Shard.open(shard)) { bos = s.bosPositions(bosId); }
                JsonNode steps = kase.get("batches");
                for (int r = 0; r < world; r++) {
                    try (TrainBatcher b = new TrainBatcher(List.of(shard), world, r, DataPosition.START, bosId)) {
                        int cursor = 0;
                        for (int k = 0; k < steps.size(); k++) {
                            JsonNode exp = steps.get(k).get(r);
                            String at = "case " + caseNo + " step " + k + " rank " + r;
                            BosWalk.Plan plan = BosWalk.plan(bos, cursor, tokens.length, n, maxSeqLen, world, r);
                            cursor = plan.nextCursor();
                            assertArrayEquals(Fixtures.ints(exp.get("starts")), plan.starts(), at + " starts");
                            assertArrayEquals(Fixtures.ints(exp.get("ends")), plan.ends(), at + " ends");
                            Batch batch = b.next(n, maxSeqLen);
                            assertArrayEquals(Fixtures.ints(exp.get("inputs")), batch.inputs(), at + " inputs");
                            assertArrayEquals(Fixtures.ints(exp.get("targets")), batch.targets(), at + " targets");
                            int[] first = Fixtures.ints(exp.get("cu_seqlens_first"));
                            assertArrayEquals(first, java.util.Arrays.copyOf(batch.cuSeqlens(), first.length), at + " cu_seqlens head");
                            assertEquals(exp.get("cu_seqlens_len").intValue(), batch.cuSeqlens().length, at + " cu_seqlens length");
                            int pad = exp.get("cu_seqlens_pad_value").intValue();
                            for (int i = batch.segments() + 1; i < batch.cuSeqlens().length; i++) {
                                assertEquals(pad, batch.cuSeqlens()[i], at + " cu_seqlens pad at " + i);
                            }
                            assertEquals(new DataPosition(0, cursor), b.position(), at + " position");
                        }
                    }
                }
            }));
        }
        return tests;
    }
}
