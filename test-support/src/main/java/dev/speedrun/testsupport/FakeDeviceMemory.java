package dev.speedrun.testsupport;

import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.Storage;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Device memory that holds no data: allocations get distinct fake addresses (from 2^32, 1 MiB
 * apart) so that recording CUDA devices can check that every pointer a launch passes lies inside
 * an allocation. Copies have no data to move: by default they are an error; a recorder that lets
 * them through overrides them (reads then see zeros).
 */
public class FakeDeviceMemory implements Backend {
    private final String name;
    private final List<long[]> ranges = new ArrayList<>();
    private long next = 1L << 32;

    public FakeDeviceMemory(String name) { this.name = name; }

    @Override public String name() { return name; }

    @Override public boolean isAvailable() { return true; }

    @Override public Storage allocate(long bytes) {
        long base = next;
        next += (bytes + (1 << 20)) & ~((1L << 20) - 1);
        ranges.add(new long[] {base, base + bytes});
        Backend self = this;
        return new Storage() {
            @Override public Backend backend() { return self; }
            @Override public long byteSize() { return bytes; }
            @Override public long address() { return base; }
        };
    }

    @Override public void free(Storage storage) {}

    /** Whether the address lies inside an allocation. */
    public boolean contains(long address) { return ranges.stream().anyMatch(r -> address >= r[0] && address < r[1]); }

    /** Whether the bytes [from, to) lie inside one allocation. */
    public boolean contains(long from, long to) { return ranges.stream().anyMatch(r -> from >= r[0] && to <= r[1]); }

    @Override public void copyFromHost(Tensor dst, MemorySegment src) { throw new UnsupportedOperationException("a fake device holds no data"); }

    @Override public void copyToHost(MemorySegment dst, Tensor src) { throw new UnsupportedOperationException("a fake device holds no data"); }

    @Override public void copy(Tensor dst, Tensor src) { throw new UnsupportedOperationException("a fake device holds no data"); }
}
