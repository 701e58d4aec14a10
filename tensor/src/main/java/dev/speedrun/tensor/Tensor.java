package dev.speedrun.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * A typed, contiguous, row-major view (byte offset, shape) over backend storage. Views share the
 * storage; nothing is copied. All ops take contiguous tensors.
 */
public record Tensor(Storage storage, DType dtype, long byteOffset, Shape shape) {
    public Tensor {
        Objects.requireNonNull(storage, "storage");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(shape, "shape");
        long end = byteOffset + shape.numel() * dtype.byteSize();
        if (byteOffset < 0 || end > storage.byteSize())
            throw new IllegalArgumentException("view [" + byteOffset + ", " + end + ") outside storage of " + storage.byteSize() + " bytes");
    }

    public Backend backend() { return storage.backend(); }

    public long numel() { return shape.numel(); }

    public int rank() { return shape.rank(); }

    public long dim(int i) { return shape.dim(i); }

    /** Dimension as an int (negative indices count from the end). */
    public int size(int i) { return shape.size(i); }

    public long byteSize() { return numel() * dtype.byteSize(); }

    /** Same elements, another shape of equal element count. */
    public Tensor reshape(long... dims) {
        Shape s = Shape.of(dims);
        if (s.numel() != numel()) throw new IllegalArgumentException("cannot reshape " + shape + " to " + s);
        return new Tensor(storage, dtype, byteOffset, s);
    }

    /** Rows [from, to) along dimension 0 (contiguous). */
    public Tensor slice(long from, long to) {
        if (rank() == 0) throw new IllegalArgumentException("cannot slice a scalar");
        if (from < 0 || to < from || to > dim(0)) throw new IllegalArgumentException("slice [" + from + ", " + to + ") of " + shape);
        long[] d = shape.dims();
        long rowElems = numel() / Math.max(1, d[0]);
        d[0] = to - from;
        return new Tensor(storage, dtype, byteOffset + from * rowElems * dtype.byteSize(), Shape.of(d));
    }

    /** Row {@code i} along dimension 0, with that dimension dropped. */
    public Tensor get(long i) {
        Tensor s = slice(i, i + 1);
        long[] d = shape.dims();
        long[] rest = java.util.Arrays.copyOfRange(d, 1, d.length);
        return new Tensor(storage, dtype, s.byteOffset, Shape.of(rest));
    }

    /** A view of {@code count} elements starting at element {@code elemOffset}, shaped {@code dims}. */
    public Tensor view(long elemOffset, long... dims) {
        Shape s = Shape.of(dims);
        if (elemOffset < 0 || elemOffset + s.numel() > numel())
            throw new IllegalArgumentException("view of " + s + " at " + elemOffset + " outside " + shape);
        return new Tensor(storage, dtype, byteOffset + elemOffset * dtype.byteSize(), s);
    }

    /** The host memory of this view (CPU backend only). */
    public MemorySegment segment() { return storage.hostSegment().asSlice(byteOffset, byteSize()); }

    /** Device or native address of the first element. */
    public long address() { return storage.address() + byteOffset; }

    public boolean sameStorage(Tensor o) { return storage == o.storage; }

    @Override public String toString() { return "Tensor" + shape + " " + dtype + " on " + backend().name(); }
}
