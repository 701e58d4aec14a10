package dev.speedrun.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainBatcherTest {
    @TempDir Path tmp;

    /** Documents of random length (1..maxDoc) with distinct token values: value = 1 + global position % 50000. */
    static int[] stream(SplittableRandom r, int n, int maxDoc) {
        int[] t = new int[n];
        int left = 0;
        for (int i = 0; i < n; i++) {
            if (left == 0) { t[i] = Shard.BOS; left = 1 + r.nextInt(maxDoc); } else t[i] = 1 + i % 50000;
            left--;
        }
        return t;
    }

    List<Path> shards(int count, int size, int maxDoc, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            Path f = tmp.resolve(String.format("t_train_%06d.bin", i));
            ShardWriter.write(f, stream(r, size, maxDoc));
            files.add(f);
        }
        return files;
    }

    /** The reference: walk all shards with BosWalk on plain arrays. */
    static void checkBatch(Batch b, int n) {
        assertEquals(n, b.inputs().length);
        for (int i = 0; i + 1 < n; i++) assertEquals(b.inputs()[i + 1], b.targets()[i]);
        int[] cu = b.cuSeqlens();
        assertEquals(Batch.cuSeqlensLength(n), cu.length);
        assertEquals(0, cu[0]);
        assertEquals(n, cu[b.segments()]);
        for (int i = 1; i < cu.length; i++) assertTrue(cu[i] >= cu[i - 1]);
        // A last segment may be empty (its one token went to the targets).
        for (int s = 0; s < b.segments(); s++) if (cu[s] < n) assertEquals(Shard.BOS, b.inputs()[cu[s]], "segment starts at BOS");
    }

    @Test void prefetchesAcrossSeveralShardsAndResumesExactly() {
        List<Path> files = shards(4, 10000, 300, 7);
        int n = 512, msl = 128;
        List<Batch> all = new ArrayList<>();
        List<DataPosition> positions = new ArrayList<>();
        try (TrainBatcher b = new TrainBatcher(files, 1, 0)) {
            while (true) {
                positions.add(b.position());
                try {
                    // Batch size changes between steps, as under the batch-size schedule.
                    int nn = all.size() % 3 == 2 ? 2 * n : n;
                    Batch batch = b.next(nn, msl);
                    checkBatch(batch, nn);
                    all.add(batch);
                } catch (DataExhaustedException e) {
                    assertTrue(e.getMessage().contains(files.get(3).toString()), e.getMessage());
                    assertTrue(e.tokensMissing() > 0 && e.getMessage().contains(e.tokensMissing() + " more tokens"), e.getMessage());
                    break;
                }
            }
            assertEquals(3, b.position().shard(), "all four shards were used");
            assertTrue(b.waitNanos() >= 0);
        }
        assertTrue(all.size() > 20);
        // Resume from a position in the middle of the second shard: identical batches follow.
        int k = positions.indexOf(positions.stream().filter(p -> p.shard() == 1 && p.cursor() > 0).findFirst().orElseThrow());
        try (TrainBatcher b = new TrainBatcher(files, 1, 0, positions.get(k), Shard.BOS)) {
            for (int i = k; i < k + 5; i++) {
                int nn = i % 3 == 2 ? 2 * n : n;
                Batch batch = b.next(nn, msl);
                assertArrayEquals(all.get(i).inputs(), batch.inputs(), "batch " + i);
                assertArrayEquals(all.get(i).cuSeqlens(), batch.cuSeqlens(), "batch " + i);
            }
        }
    }

    @Test void ranksTakeConsecutiveRunsMatchingOneBigWalk() {
        List<Path> files = shards(2, 20000, 200, 11);
        int world = 4, n = 256, msl = 64;
        TrainBatcher[] ranks = new TrainBatcher[world];
        for (int r = 0; r < world; r++) ranks[r] = new TrainBatcher(files, world, r);
        try {
            for (int step = 0; step < 15; step++) {
                DataPosition p = null;
                for (int r = 0; r < world; r++) {
                    Batch b = ranks[r].next(n, msl);
                    checkBatch(b, n);
                    if (p != null) assertEquals(p, ranks[r].position(), "ranks agree on the position");
                    p = ranks[r].position();
                    for (int s = 0; s < b.segments(); s++) {
                        int len = b.cuSeqlens()[s + 1] - b.cuSeqlens()[s];
                        assertTrue(len <= msl, "segment longer than max_seq_len");
                    }
                }
            }
        } finally {
            for (TrainBatcher b : ranks) b.close();
        }
    }

    @Test void bosLessShardIsSkippedAndTrainingDataExhaustionSaysHowMuchWasMissing() {
        int[] noBos = new int[3000];
        java.util.Arrays.fill(noBos, 7);
        Path a = tmp.resolve("a_train_000000.bin");
        ShardWriter.write(a, noBos);
        Path b = tmp.resolve("a_train_000001.bin");
        ShardWriter.write(b, stream(new SplittableRandom(3), 3000, 50));
        try (TrainBatcher t = new TrainBatcher(List.of(b, a), 2, 1)) { // sorted by name internally
            Batch batch = t.next(100, 64);
            checkBatch(batch, 100);
            assertEquals(1, t.position().shard());
            DataExhaustedException e = assertThrows(DataExhaustedException.class, () -> { while (true) t.next(100, 64); });
            assertTrue(e.getMessage().contains("202"), "needs 2 ranks × 101: " + e.getMessage());
        }
        try (TrainBatcher t = new TrainBatcher(List.of(a), 1, 0)) {
            DataExhaustedException e = assertThrows(DataExhaustedException.class, () -> t.next(100, 64));
            assertEquals(101, e.tokensMissing(), e.getMessage());
        }
    }

    @Test void badShardFailsAtStartupNamingIt() throws Exception {
        List<Path> files = shards(2, 1000, 50, 5);
        java.nio.file.Files.write(files.get(1), new byte[] {1, 2, 3});
        var e = assertThrows(ShardFormatException.class, () -> new TrainBatcher(files, 1, 0));
        assertEquals(files.get(1), e.file());
    }

    @Test void globalBatchSplitIsChecked() {
        assertEquals(2048, TrainBatcher.tokensPerRank(8 * 2048 * 8, 8, 8));
        assertThrows(DataException.class, () -> TrainBatcher.tokensPerRank(1000, 3, 1));
    }

    @Test void prefetcherCountsWaitsOnlyWhenDataWasNotReady() throws Exception {
        List<Path> files = shards(3, 2000, 50, 9);
        try (ShardPrefetcher p = new ShardPrefetcher(files, Shard.BOS, "test-prefetch")) {
            var l0 = p.take(0); // not requested: loaded synchronously, counts as a wait
            assertEquals(1, p.waits());
            p.request(1);
            Thread.sleep(300);
            var l1 = p.take(1);
            assertEquals(1, p.waits(), "prefetched shard was ready");
            assertEquals(1, l1.index());
            try (Shard s = Shard.open(files.get(1))) { assertArrayEquals(s.bosPositions(Shard.BOS), l1.bos()); }
            l0.shard().close();
            l1.shard().close();
        }
    }
}
