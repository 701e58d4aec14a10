package dev.speedrun.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ValBatcherTest {
    @TempDir Path tmp;

    @Test void contiguousRunsPerRankWithBosBoundaries() {
        int[] t = TrainBatcherTest.stream(new SplittableRandom(4), 10_000, 40);
        Path f = tmp.resolve("v_val_000000.bin");
        ShardWriter.write(f, t);
        int world = 2, n = 300;
        for (int r = 0; r < world; r++) {
            try (ValBatcher v = new ValBatcher(List.of(f), world, r)) {
                for (int step = 0; step < 3; step++) {
                    Batch b = v.next(n);
                    int from = step * world * n + r * n;
                    assertArrayEquals(java.util.Arrays.copyOfRange(t, from, from + n), b.inputs());
                    assertArrayEquals(java.util.Arrays.copyOfRange(t, from + 1, from + n + 1), b.targets());
                    int k = 1;
                    for (int i = 0; i < n; i++) if (t[from + i] == Shard.BOS) assertEquals(i, b.cuSeqlens()[k++]);
                    assertEquals(k - 1, b.segments());
                    assertEquals(0, b.cuSeqlens()[0]);
                    for (; k < b.cuSeqlens().length; k++) assertEquals(n, b.cuSeqlens()[k]);
                }
                v.reset();
                assertArrayEquals(java.util.Arrays.copyOfRange(t, r * n, r * n + n), v.next(n).inputs());
                DataExhaustedException e = assertThrows(DataExhaustedException.class, () -> { while (true) v.next(n); });
                assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
            }
        }
    }
}
