package dev.speedrun.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A shard that disappears mid-run: the prefetch thread's failure reaches the trainer naming the shard, never as a hang. */
class ShardFaultTest {
    @TempDir Path tmp;

    @Test void aShardDeletedMidRunIsAnErrorNamingIt() throws Exception {
        TrainBatcherTest helper = new TrainBatcherTest();
        helper.tmp = tmp;
        int size = 4096, maxDoc = 64, n = 256;
        List<Path> files = helper.shards(3, size, maxDoc, 17);
        Path gone = files.get(2);
        try (TrainBatcher b = new TrainBatcher(files, 1, 0)) {
            // shard 1 is being prefetched now; shard 2 will be requested once shard 1 is in use
            Files.delete(gone);
            // every shard holds at most size / n batches: the loop reaches the third shard well before its end
            DataException e = assertThrows(DataException.class, () -> assertTimeoutPreemptively(Duration.ofSeconds(20), () -> {
                for (int i = 0; i <= 3 * size / n; i++) b.next(n, maxDoc);
            }, "a failed prefetch must not hang the batcher"));
            assertFalse(e instanceof DataExhaustedException, e.getMessage());
            assertTrue(e.getMessage().contains(gone.toString()), e.getMessage());
        }
    }
}
