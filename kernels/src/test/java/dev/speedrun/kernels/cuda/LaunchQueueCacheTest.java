package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/**
 * The graph cache against the segment pattern of a step on several ranks (no device: a counting
 * driver). Every collective the gradient hook starts flushes, so the last backward is one segment
 * per collective, about a dozen where Adam steps and four where only NorMuon does, on alternating
 * steps: some 20 segments in a cyclic order. An LRU smaller than the cycle misses on every access
 * (each segment then alternates between an eager run and a fresh capture); the cache must hold the
 * cycle so that from the third pass on every segment replays.
 */
class LaunchQueueCacheTest {
    /** Launches, captures and graph launches the queue sent. */
    private static final class CountingDriver implements LaunchQueue.Driver {
        int launches, captures, graphLaunches, destroyed;

        @Override public void launchNow(Kernel kernel, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                                        byte[] buf, int off, int len) {
            launches++;
        }

        @Override public LaunchQueue.Graph capture(Runnable issue) {
            captures++;
            issue.run();
            return new LaunchQueue.Graph() {
                @Override public void launch() { graphLaunches++; }

                @Override public void destroy() { destroyed++; }
            };
        }
    }

    @Test void theSegmentsOfAMultiRankStepCycleWithoutEvictions() {
        int live = 20;   // ≈ 12 segments of an Adam step + 4 of a NorMuon-only step + eval and transition shapes
        CountingDriver d = new CountingDriver();
        LaunchQueue q = new LaunchQueue(d, true);
        Kernel k = Kernel.values()[0];
        CudaDevice.Dim3 one = CudaDevice.Dim3.of(1);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment values = a.allocate(8L * Math.max(1, k.params().size()), 16);
            Runnable pass = () -> {
                for (int s = 0; s < live; s++) {
                    int seg = s;
                    q.replayable(() -> {
                        values.set(ValueLayout.JAVA_LONG, 0, seg);   // a different pointer: a different segment
                        q.kernel(k, one, one, 0, values);
                    });
                }
            };
            pass.run();
            pass.run();
            assertEquals(live, d.captures, "each segment captured on its second sighting");
            for (int p = 0; p < 3; p++) pass.run();
            LaunchQueue.Stats st = q.stats();
            assertEquals(live, st.graphCaptures(), "no segment captured again");
            assertEquals(0, st.evictions(), "the cache holds the whole cycle");
            assertEquals(4L * live, st.graphLaunches(), "from the second pass on every segment replays");
            assertEquals(0, d.destroyed);
            q.close();
            assertEquals(live, d.destroyed, "close destroys every cached graph");
        }
    }
}
