package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.speedrun.tensor.Backends;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The GPU's double-buffered uploads ({@link CopyStreamUploads}) against recording stream events:
 * micro-batch i's copies into set i mod 2 run on the copy stream after the compute stream has
 * released that set (micro-batch i−2's end), and the compute stream waits for them before its work;
 * the copies go to the copy-stream copier.
 */
class CopyStreamUploadsTest {
    @Test void copiesWaitForTheSetsLastReaderAndComputeWaitsForTheCopies() {
        List<String> log = new ArrayList<>();
        StreamEvents events = new StreamEvents() {
            int n;
            @Override public int createEvent() { return n++; }
            @Override public void recordEvent(int event, Lane lane) { log.add("record e" + event + " on " + lane); }
            @Override public void waitEvent(Lane lane, int event) { log.add(lane + " waits e" + event); }
        };
        try (MemoryArena arena = Backends.cpu().newArena()) {
            Tensor dst = arena.allocate(DType.I32, 2);
            MemorySegment src = Arena.ofAuto().allocate(8, 8);
            src.setAtIndex(ValueLayout.JAVA_INT, 0, 11);
            src.setAtIndex(ValueLayout.JAVA_INT, 1, 12);
            CopyStreamUploads up = new CopyStreamUploads(events, (d, s) -> {
                log.add("copy on COPY");
                Backends.cpu().copyFromHost(d, s);
            }, 2);
            // events per set, made at construction: consumed[k] = 2k, copied[k] = 2k + 1
            List<String> want = new ArrayList<>();
            for (int micro = 0; micro < 3; micro++) {
                int k = micro % 2;
                up.acquire(k);
                up.copy(dst, src);
                up.publish(k);
                log.add("compute work of micro-batch " + micro);
                up.release(k);
                want.addAll(List.of("COPY waits e" + 2 * k, "copy on COPY", "record e" + (2 * k + 1) + " on COPY",
                        "COMPUTE waits e" + (2 * k + 1), "compute work of micro-batch " + micro, "record e" + 2 * k + " on COMPUTE"));
            }
            assertEquals(want, log);
            assertEquals(List.of(11.0, 12.0), java.util.Arrays.stream(HostData.toDoubles(dst)).boxed().toList());
            assertThrows(IllegalArgumentException.class, () -> up.acquire(2), "a set outside the stream's");
            assertThrows(IllegalArgumentException.class, () -> new CopyStreamUploads(events, (d, s) -> {}, 0));
        }
    }
}
