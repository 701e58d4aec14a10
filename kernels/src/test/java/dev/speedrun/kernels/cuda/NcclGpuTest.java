package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.speedrun.kernels.Collectives.Reduce;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Gpu;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * NCCL collectives on every GPU of this machine (world size = GPU count, 1 on a single-GPU box),
 * synchronous and asynchronous (on the communication stream, ordered by events with the kernels
 * on the compute stream).
 */
@Tag("gpu")
@org.junit.jupiter.api.Timeout(value = 180, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
class NcclGpuTest {
    @Test void collectivesOverAllLocalGpus() throws Exception {
        Gpu.usableOrSkip(CudaBackend.NAME);
        CudaBackend.Probe p = CudaBackend.probe();
        try {
            Nccl.load();
        } catch (NativeLibraries.NotFound e) {
            assumeTrue(false, e.getMessage());
        }
        int n = p.deviceCount();
        List<JCudaDevice> devs = new ArrayList<>();
        for (int i = 0; i < n; i++) devs.add(CudaBackend.forDevice(i).device());
        List<NcclCollectives> comms = NcclCollectives.forNode(devs, NcclBootstrap.fromEnv(Map.of()));
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                fs.add(pool.submit(() -> { runRank(comms.get(rank), devs.get(rank), n); return null; }));
            }
            for (Future<?> f : fs) f.get();
        } finally {
            pool.shutdown();
            for (NcclCollectives c : comms) c.close();
        }
    }

    private static void runRank(NcclCollectives c, JCudaDevice dev, int n) {
        int r = c.rank(), N = 6;
        assertEquals(n, c.worldSize());
        try (MemoryArena arena = dev.backend().newArena()) {
            Tensor buf = arena.allocate(DType.F32, N);
            double[] mine = new double[N];
            for (int i = 0; i < N; i++) mine[i] = (r + 1) * 10 + i;
            HostData.write(buf, mine);
            c.allReduce(buf, Reduce.SUM);
            double[] want = new double[N];
            for (int i = 0; i < N; i++) want[i] = 10.0 * n * (n + 1) / 2 + n * i;
            assertArrayEquals(want, HostData.toDoubles(buf), 1e-4, "allReduce SUM on rank " + r);
            c.allReduce(buf, Reduce.AVG);
            assertArrayEquals(want, HostData.toDoubles(buf), 1e-4, "allReduce AVG of equal values on rank " + r);
            Tensor in = arena.allocate(DType.F32, (long) N * n), out = arena.allocate(DType.F32, N);
            double[] inv = new double[N * n];
            for (int i = 0; i < inv.length; i++) inv[i] = i + r;
            HostData.write(in, inv);
            c.reduceScatter(out, in, Reduce.SUM);
            double[] rs = new double[N];
            for (int i = 0; i < N; i++) rs[i] = n * (double) (r * N + i) + n * (n - 1) / 2.0;
            assertArrayEquals(rs, HostData.toDoubles(out), 1e-4, "reduceScatter on rank " + r);
            Tensor gathered = arena.allocate(DType.F32, (long) N * n);
            HostData.write(out, mine);
            c.allGather(gathered, out);
            double[] g = HostData.toDoubles(gathered);
            for (int q = 0; q < n; q++) assertEquals((q + 1) * 10, g[q * N], 1e-6, "allGather chunk " + q + " on rank " + r);
            HostData.write(buf, mine);
            c.broadcast(buf, 0);
            assertEquals(10, HostData.toDoubles(buf)[0], 1e-6, "broadcast from rank 0 on rank " + r);
            // asynchronous, on the communication stream: the collective starts after the compute stream's
            // kernels queued before it (the fill), and compute queued after await() sees its result (the add)
            dev.speedrun.kernels.Ops ops = new CudaOps(dev);
            Tensor twice = arena.allocate(DType.F32, N);
            for (int rep = 0; rep < 3; rep++) {   // the events are reused after the first round
                ops.fill(buf, rep + 1);
                var pending = c.allReduceAsync(buf, Reduce.SUM);
                pending.await();
                ops.add(twice, buf, buf);
                double[] w2 = new double[N];
                java.util.Arrays.fill(w2, 2.0 * n * (rep + 1));
                assertArrayEquals(w2, HostData.toDoubles(twice), 1e-6, "async allReduce, round " + rep + ", on rank " + r);
            }
            HostData.write(in, inv);
            var rsAsync = c.reduceScatterAsync(out, in, Reduce.SUM);
            var agAsync = c.allGatherAsync(gathered, buf);   // buf: n·3 everywhere after the last round
            agAsync.await();
            rsAsync.await();
            assertArrayEquals(rs, HostData.toDoubles(out), 1e-4, "async reduceScatter on rank " + r);
            for (int q = 0; q < n; q++) assertEquals(3.0 * n, HostData.toDoubles(gathered)[q * N], 1e-6, "async allGather chunk " + q + " on rank " + r);
            c.barrier();
        }
    }
}
