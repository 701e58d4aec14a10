package dev.speedrun.tensor;

import java.lang.foreign.MemorySegment;

/**
 * A block of backend memory that tensors view. CPU storage exposes its host segment; device
 * storage exposes a device address and has no host segment.
 */
public interface Storage {
    Backend backend();

    long byteSize();

    /** Host memory of this storage; throws for device memory. */
    default MemorySegment hostSegment() {
        throw new UnsupportedOperationException(backend().name() + " storage is not host memory");
    }

    /** Device address of the first byte; for host storage the native address. */
    long address();
}
