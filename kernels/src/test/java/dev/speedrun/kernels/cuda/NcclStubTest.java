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
 * op codes of every collective, that every call runs on the communication stream, and the event
 * calls that order it against the compute stream. Skipped when gcc is not installed.
 */
class NcclStubTest {
    /** A host stand-in device: its streams are the handles the stub expects; event calls are logged. */
    private static final class HostDevice implements NcclCollectives.Device {
        final Backend cpu;
        final MemoryArena arena;
        final java.lang.invoke.MethodHandle stubCalls;
        final List<String> log = new java.util.ArrayList<>();
        int events;

        HostDevice(Backend cpu, MemoryArena arena, java.lang.invoke.MethodHandle stubCalls) {
            this.cpu = cpu;
            this.arena = arena;
            this.stubCalls = stubCalls;
        }

        /** How many collectives the stub has run: places each event call between the NCCL calls. */
        int calls() {
            try {
                return (int) stubCalls.invokeExact();
            } catch (Throwable t) {
                throw new AssertionError(t);
            }
        }

        @Override public void makeCurrent() {}
        @Override public long streamHandle() { return 0x5; }
        @Override public long commStreamHandle() { return 0x6; }
        @Override public int createEvent() { return events++; }
        @Override public void recordEvent(int event, Lane lane) { log.add("record e" + event + " on " + lane + " after " + calls()); }
        @Override public void waitEvent(Lane lane, int event) { log.add(lane + " waits e" + event + " after " + calls()); }
        @Override public void synchronize() { log.add("synchronize after " + calls()); }
        @Override public Backend backend() { return cpu; }
        @Override public Tensor scratch(int slot, long floats) { return arena.allocate(DType.F32, floats); }
    }

    @Test void oneRankCollectivesThroughTheBindings(@TempDir Path dir) throws Throwable {
        Path so = CublasLtStubTest.compileStub(dir, "nccl_stub.c", "libnccl.so.2");
        Nccl nccl = Nccl.load(List.of(dir));
        assertEquals(22703, nccl.version());
        byte[] id = nccl.uniqueId();
        assertEquals(Nccl.UNIQUE_ID_BYTES, id.length);
        Backend cpu = Backends.cpu();
        SymbolLookup stub = SymbolLookup.libraryLookup(so, java.lang.foreign.Arena.global());
        var calls = Linker.nativeLinker().downcallHandle(stub.find("stub_calls").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT));
        try (MemoryArena arena = cpu.newArena()) {
            HostDevice host = new HostDevice(cpu, arena, calls);
            byte[] wrong = id.clone();
            wrong[100] ^= 1;
            IllegalStateException bad = assertThrows(IllegalStateException.class, () -> NcclCollectives.join(nccl, host, wrong, 0, 1));
            assertTrue(bad.getMessage().contains("invalid argument (stub)"), bad.getMessage());
            try (NcclCollectives c = NcclCollectives.join(nccl, host, id, 0, 1)) {
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

    /**
     * The asynchronous path: each call first makes the communication stream wait for an event the
     * compute stream recorded (inputs ready), runs NCCL on the communication stream, records its own
     * event there; only {@code await()} makes the compute stream wait for that event, and awaited
     * events are reused (no event made per call in steady state).
     */
    @Test void asynchronousCollectivesOrderTheStreamsByEvents(@TempDir Path dir) throws Throwable {
        Path so = CublasLtStubTest.compileStub(dir, "nccl_stub.c", "libnccl.so.2");
        Nccl nccl = Nccl.load(List.of(dir));
        Backend cpu = Backends.cpu();
        SymbolLookup stub = SymbolLookup.libraryLookup(so, java.lang.foreign.Arena.global());
        var calls = Linker.nativeLinker().downcallHandle(stub.find("stub_calls").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_INT));
        try (MemoryArena arena = cpu.newArena()) {
            HostDevice host = new HostDevice(cpu, arena, calls);
            try (NcclCollectives c = NcclCollectives.join(nccl, host, nccl.uniqueId(), 0, 1)) {
                int n0 = host.calls(), ready = host.events - 1;   // the one event made at join: inputs ready
                Tensor g = arena.allocate(DType.F32, 3), v = arena.allocate(DType.F32, 3);
                HostData.write(g, new double[] {1, 2, 3});
                HostData.write(v, new double[] {4, 5, 6});
                host.log.clear();
                var rs = c.reduceScatterAsync(g, g, Reduce.AVG);
                var ag = c.allGatherAsync(v, v);
                int rsEvent = ready + 1, agEvent = ready + 2;
                assertEquals(List.of(
                        "record e" + ready + " on COMPUTE after " + n0, "COMMUNICATION waits e" + ready + " after " + n0,
                        "record e" + rsEvent + " on COMMUNICATION after " + (n0 + 1),
                        "record e" + ready + " on COMPUTE after " + (n0 + 1), "COMMUNICATION waits e" + ready + " after " + (n0 + 1),
                        "record e" + agEvent + " on COMMUNICATION after " + (n0 + 2)), host.log, "no compute wait before await");
                host.log.clear();
                ag.await();
                rs.await();
                assertEquals(List.of("COMPUTE waits e" + agEvent + " after " + (n0 + 2), "COMPUTE waits e" + rsEvent + " after " + (n0 + 2)),
                        host.log);
                assertThrows(IllegalStateException.class, rs::await, "a ticket is awaited once");
                int made = host.events;
                host.log.clear();
                c.allReduceAsync(g, Reduce.SUM).await();
                assertEquals(made, host.events, "an awaited event is reused");
                assertEquals(List.of("record e" + ready + " on COMPUTE after " + (n0 + 2), "COMMUNICATION waits e" + ready + " after " + (n0 + 2),
                        "record e" + rsEvent + " on COMMUNICATION after " + (n0 + 3), "COMPUTE waits e" + rsEvent + " after " + (n0 + 3)), host.log,
                        "the synchronous form is the asynchronous one awaited at once; the last freed event first");
                assertArrayEquals(new double[] {1, 2, 3}, HostData.toDoubles(g));
                assertArrayEquals(new double[] {4, 5, 6}, HostData.toDoubles(v));
            }
        }
    }
}
