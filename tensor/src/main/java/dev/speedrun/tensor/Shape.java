package dev.speedrun.tensor;

import java.util.Arrays;

/** An immutable row-major shape. A rank-0 shape has one element. */
public record Shape(long... dims) {
    public Shape {
        dims = dims.clone();
        for (long d : dims) if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(dims));
    }

    public static Shape of(long... dims) { return new Shape(dims); }

    public int rank() { return dims.length; }

    public long dim(int i) { return dims[i < 0 ? dims.length + i : i]; }

    /** Dimension as an int, for loops over sizes that fit (rows, columns, heads...). */
    public int size(int i) { return Math.toIntExact(dim(i)); }

    public long numel() {
        long n = 1;
        for (long d : dims) n = Math.multiplyExact(n, d);
        return n;
    }

    @Override public long[] dims() { return dims.clone(); }

    @Override public boolean equals(Object o) { return o instanceof Shape s && Arrays.equals(dims, s.dims); }

    @Override public int hashCode() { return Arrays.hashCode(dims); }

    @Override public String toString() { return Arrays.toString(dims); }
}
