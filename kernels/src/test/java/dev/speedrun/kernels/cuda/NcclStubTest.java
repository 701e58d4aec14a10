package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.kernels.Collectives.Reduce;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.Backends;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link NcclCollectives} (world size 1) against a host stand-in of libnccl.so.2 built with gcc
 * (test resource stubs/nccl_stub.c): the unique id passed by value, argument order, data type and
 * op codes of every collective. Skipped when gcc is not installed.
 */
class NcclStubTest {
    @Test void oneRankCollectivesThroughTheBindings(@TempDir Path dir) throws Throwable {
        Path so = CublasLtStubTest.compileStub(dir, "nccl_stub.c", "libnccl.so.2");
        Nccl nccl = Nccl.load(List.of(dir));
        assertEquals(22703, nccl.version());
        byte[] id = nccl.uniqueId();
        assertEquals(Nccl.UNIQUE_ID_BYTES, id.length);
        Backend cpu = Backends.cpu();
        try (MemoryArena arena = cpu.newArena()) {
            NcclCollectives.Device host = new NcclCollectives.Device() {
                @Override public void makeCurrent() {}
                @Override public long streamHandle() { return 0x5; }
                @Override public void synchronize() {}
                @Override public Backend backend() { return cpu; }
                @Override public Tensor scratch(int slot, long floats) { return arena.allocate(DType.F32, floats); }
            };
            byte[] wrong = id.clone();
            wrong[100] ^= 1;
            IllegalStateException bad = assertThrows(IllegalStateException.class, () -> NcclCollectives.join(nccl, host, wrong, 0, 1));
            assertTrue(bad.getMessage().contains("invalid argument (stub)"), bad.getMessage());
            try (NcclCollectives c = NcclCollectives.join(nccl, host, id, 0, 1)) {
                SymbolLookup stub = SymbolLookup.libraryLookup(so, java.lang.foreign.Arena.global());
                var lastOp = Linker.nativeLinker().downcallHandle(stub.find("stub_last_op").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT));
                var lastDt = Linker.nativeLinker().downcallHandle(stub.find("stub_last_dt").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT));
                Tensor buf = arena.allocate(DType.BF16, 4);
                HostData.write(buf, new double[] {1, 2, 3, 4});
                c.allReduce(buf, Reduce.AVG);
                assertEquals(Nccl.ncclAvg, (int) lastOp.invokeExact());
                assertEquals(Nccl.ncclBfloat16, (int) lastDt.invokeExact());
                assertArrayEquals(new double[] {1, 2, 3, 4}, HostData.toDoubles(buf));
                Tensor in = arena.allocate(DType.F32, 3), out = arena.allocate(DType.F32, 3);
                HostData.write(in, new double[] {5, 6, 7});
                c.reduceScatter(out, in, Reduce.SUM);
                assertEquals(Nccl.ncclSum, (int) lastOp.invokeExact());
                assertEquals(Nccl.ncclFloat32, (int) lastDt.invokeExact());
                assertArrayEquals(new double[] {5, 6, 7}, HostData.toDoubles(out));
                Tensor g = arena.allocate(DType.F32, 3);
                c.allGather(g, in);
                assertArrayEquals(new double[] {5, 6, 7}, HostData.toDoubles(g));
                c.broadcast(g, 0);
                c.barrier();
                assertThrows(IllegalArgumentException.class, () -> c.broadcast(g, 1), "root outside the world");
                assertThrows(IllegalArgumentException.class, () -> c.allGather(arena.allocate(DType.F32, 4), in), "sizes checked on the host");
            }
        }
    }
}
