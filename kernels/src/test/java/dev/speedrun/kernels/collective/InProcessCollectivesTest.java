package dev.speedrun.kernels.collective;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.Collectives.Reduce;
import dev.speedrun.tensor.Backends;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class InProcessCollectivesTest {

    /** Rank r's input element i; distinct per rank and element, exact in F64. */
    private static double value(int rank, int i) { return rank * 1000.0 + i * 0.5 - 3; }

    private static double[] input(int rank, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = value(rank, i);
        return v;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 8})
    void allReduceSumAndAverage(int world) {
        int n = 7;
        ConcurrentHashMap<Integer, double[]> sums = new ConcurrentHashMap<>(), avgs = new ConcurrentHashMap<>();
        InProcessCollectives.run(world, c -> {
            try (MemoryArena a = Backends.cpu().newArena()) {
                Tensor t = a.allocate(DType.F64, n);
                HostData.write(t, input(c.rank(), n));
                c.allReduce(t, Reduce.SUM);
                sums.put(c.rank(), HostData.toDoubles(t));
                HostData.write(t, input(c.rank(), n));
                c.allReduce(t, Reduce.AVG);
                avgs.put(c.rank(), HostData.toDoubles(t));
            }
        });
        for (int r = 0; r < world; r++) {
            for (int i = 0; i < n; i++) {
                double s = 0;
                for (int q = 0; q < world; q++) s += value(q, i);
                assertEquals(s, sums.get(r)[i], 1e-12, "sum rank " + r + " element " + i);
                assertEquals(s / world, avgs.get(r)[i], 1e-12, "avg rank " + r + " element " + i);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4})
    void reduceScatterInPlaceAndAllGatherInPlace(int world) {
        int chunk = 5;
        ConcurrentHashMap<Integer, double[]> scattered = new ConcurrentHashMap<>(), gathered = new ConcurrentHashMap<>();
        InProcessCollectives.run(world, c -> {
            try (MemoryArena a = Backends.cpu().newArena()) {
                Tensor full = a.allocate(DType.F32, (long) world * chunk);
                HostData.write(full, input(c.rank(), world * chunk));
                Tensor mine = full.slice((long) c.rank() * chunk, (long) (c.rank() + 1) * chunk);
                c.reduceScatter(mine, full, Reduce.SUM); // in place, as the sharded optimizers use it
                scattered.put(c.rank(), HostData.toDoubles(mine));
                // every rank now marks its chunk and gathers the marks back in place
                double[] mark = new double[chunk];
                for (int i = 0; i < chunk; i++) mark[i] = c.rank() * 10 + i;
                HostData.write(mine, mark);
                c.allGather(full, mine);
                gathered.put(c.rank(), HostData.toDoubles(full));
            }
        });
        for (int r = 0; r < world; r++) {
            for (int i = 0; i < chunk; i++) {
                double s = 0;
                for (int q = 0; q < world; q++) s += value(q, r * chunk + i);
                assertEquals((float) s, scattered.get(r)[i], 0, "reduce-scatter rank " + r + " element " + i);
            }
            double[] expect = new double[world * chunk];
            for (int q = 0; q < world; q++) for (int i = 0; i < chunk; i++) expect[q * chunk + i] = q * 10 + i;
            assertArrayEquals(expect, gathered.get(r), "all-gather on rank " + r);
        }
    }

    /**
     * The asynchronous forms (the interface's defaults) run the collective at the call: the same
     * values as the synchronous ones, bit for bit, readable before {@code await()}, which is a no-op.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void asynchronousFormsGiveTheSynchronousResults(int world) {
        int chunk = 5;
        ConcurrentHashMap<Integer, double[][]> sync = new ConcurrentHashMap<>(), async = new ConcurrentHashMap<>();
        InProcessCollectives.run(world, c -> {
            try (MemoryArena a = Backends.cpu().newArena()) {
                for (boolean asynchronous : new boolean[] {false, true}) {
                    Tensor full = a.allocate(DType.BF16, (long) world * chunk), mine = full.slice((long) c.rank() * chunk, (long) (c.rank() + 1) * chunk);
                    Tensor all = a.allocate(DType.F32, (long) world * chunk);
                    HostData.write(full, input(c.rank(), world * chunk));
                    HostData.write(all, input(c.rank(), world * chunk));
                    double[][] got = new double[3][];
                    if (asynchronous) {
                        Collectives.Pending rs = c.reduceScatterAsync(mine, full, Reduce.AVG);
                        got[0] = HostData.toDoubles(mine);
                        rs.await();
                        Collectives.Pending ar = c.allReduceAsync(all, Reduce.SUM);
                        got[1] = HostData.toDoubles(all);
                        ar.await();
                        c.allGatherAsync(full, mine).await();
                    } else {
                        c.reduceScatter(mine, full, Reduce.AVG);
                        got[0] = HostData.toDoubles(mine);
                        c.allReduce(all, Reduce.SUM);
                        got[1] = HostData.toDoubles(all);
                        c.allGather(full, mine);
                    }
                    got[2] = HostData.toDoubles(full);
                    (asynchronous ? async : sync).put(c.rank(), got);
                }
            }
        });
        for (int r = 0; r < world; r++)
            for (int k = 0; k < 3; k++)
                assertArrayEquals(sync.get(r)[k], async.get(r)[k], "rank " + r + ", " + new String[] {"reduce-scatter", "all-reduce", "all-gather"}[k]);
    }

    @Test
    void broadcastCopiesTheRootToEveryRankInBf16() {
        int world = 3, n = 4, root = 2;
        ConcurrentHashMap<Integer, double[]> got = new ConcurrentHashMap<>();
        InProcessCollectives.run(world, c -> {
            try (MemoryArena a = Backends.cpu().newArena()) {
                Tensor t = a.allocate(DType.BF16, n);
                HostData.write(t, input(c.rank(), n));
                c.broadcast(t, root);
                got.put(c.rank(), HostData.toDoubles(t));
                c.barrier();
            }
        });
        for (int r = 0; r < world; r++) {
            for (int i = 0; i < n; i++) {
                float expect = dev.speedrun.tensor.BFloat16.round((float) value(root, i));
                assertEquals(expect, got.get(r)[i], 0, "rank " + r + " element " + i);
            }
        }
    }

    @Test
    void barrierOrdersWrites() {
        int world = 4;
        AtomicInteger before = new AtomicInteger();
        ConcurrentHashMap<Integer, Integer> seen = new ConcurrentHashMap<>();
        InProcessCollectives.run(world, c -> {
            before.incrementAndGet();
            c.barrier();
            seen.put(c.rank(), before.get());
        });
        for (int r = 0; r < world; r++) assertEquals(world, seen.get(r), "rank " + r + " passed the barrier early");
    }

    @Test
    void mismatchedCallsFailOnEveryRankNamingBoth() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> InProcessCollectives.run(2, c -> {
            try (MemoryArena a = Backends.cpu().newArena()) {
                Tensor t = a.allocate(DType.F32, c.rank() == 0 ? 3 : 4);
                c.allReduce(t, Reduce.SUM);
            }
        }));
        assertTrue(e.getMessage().contains("collective mismatch"), e.getMessage());
    }

    @Test
    void aFailingRankStopsTheOthers() {
        // repeated: the failure must stop ranks that reach the barrier before and after it
        for (int i = 0; i < 50; i++) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> InProcessCollectives.run(4, c -> {
                if (c.rank() == 1) throw new IllegalArgumentException("rank 1 broke");
                c.barrier();
                c.barrier();
            }));
            assertEquals("rank 1 broke", e.getMessage(), "attempt " + i);
        }
    }

    @Test
    void closingAHandleWakesRanksWaitingInACollective() throws Exception {
        var ranks = InProcessCollectives.create(2);
        var outcome = new java.util.concurrent.CompletableFuture<Throwable>();
        Thread.ofPlatform().start(() -> {
            try {
                ranks.get(0).barrier();
                outcome.complete(null);
            } catch (Throwable e) {
                outcome.complete(e);
            }
        });
        ranks.get(1).close();
        assertInstanceOf(IllegalStateException.class, outcome.get(30, java.util.concurrent.TimeUnit.SECONDS),
                "rank 0 fails instead of waiting for the closed rank 1");
    }

    @Test
    void handlesKnowTheirRankAndWorld() {
        var ranks = InProcessCollectives.create(3);
        for (int r = 0; r < 3; r++) {
            Collectives c = ranks.get(r);
            assertEquals(r, c.rank());
            assertEquals(3, c.worldSize());
        }
        assertThrows(IllegalArgumentException.class, () -> InProcessCollectives.create(0));
    }
}
