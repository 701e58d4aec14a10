package dev.speedrun.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Moves values between Java arrays and tensors of any backend, converting dtypes on the host. */
public final class HostData {
    private HostData() {}

    /** All elements of {@code t} as doubles (F64, F32, BF16, I32). */
    public static double[] toDoubles(Tensor t) {
        int n = Math.toIntExact(t.numel());
        double[] out = new double[n];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(Math.max(1, t.byteSize()), 8);
            t.backend().copyToHost(host, t);
            for (int i = 0; i < n; i++) out[i] = read(host, t.dtype(), i);
        }
        return out;
    }

    public static float[] toFloats(Tensor t) {
        double[] d = toDoubles(t);
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    public static int[] toInts(Tensor t) {
        double[] d = toDoubles(t);
        int[] r = new int[d.length];
        for (int i = 0; i < d.length; i++) r[i] = (int) d[i];
        return r;
    }

    /** One element as a double (a device read; avoid in hot loops). */
    public static double scalar(Tensor t) { return toDoubles(t.numel() == 1 ? t : t.view(0, 1))[0]; }

    /** Writes {@code values} (length = numel) into {@code t}, rounding to its dtype. */
    public static void write(Tensor t, double[] values) { write(t, values, false); }

    /**
     * Like {@link #write(Tensor, double[])} without a host wait: the values are taken at the call
     * and copied in the order of the device's queued work ({@link Backend#copyFromHostAsync}).
     */
    public static void writeAsync(Tensor t, double[] values) { write(t, values, true); }

    private static void write(Tensor t, double[] values, boolean async) {
        if (values.length != t.numel()) throw new IllegalArgumentException(values.length + " values for " + t);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(Math.max(1, t.byteSize()), 8);
            for (int i = 0; i < values.length; i++) store(host, t.dtype(), i, values[i]);
            if (async) t.backend().copyFromHostAsync(t, host);   // the backend takes the bytes at the call
            else t.backend().copyFromHost(t, host);
        }
    }

    public static void write(Tensor t, float[] values) {
        double[] d = new double[values.length];
        for (int i = 0; i < d.length; i++) d[i] = values[i];
        write(t, d);
    }

    public static void write(Tensor t, int[] values) {
        double[] d = new double[values.length];
        for (int i = 0; i < d.length; i++) d[i] = values[i];
        write(t, d);
    }

    /** Reads element {@code i} of a host segment holding {@code dtype} values. */
    public static double read(MemorySegment seg, DType dtype, long i) {
        return switch (dtype) {
            case F64 -> seg.getAtIndex(ValueLayout.JAVA_DOUBLE_UNALIGNED, i);
            case F32 -> seg.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i);
            case BF16 -> BFloat16.toFloat(seg.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i));
            case I32 -> seg.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i);
            default -> throw new UnsupportedOperationException("host read of " + dtype);
        };
    }

    /** Stores element {@code i} of a host segment holding {@code dtype} values, rounding to nearest even. */
    public static void store(MemorySegment seg, DType dtype, long i, double v) {
        switch (dtype) {
            case F64 -> seg.setAtIndex(ValueLayout.JAVA_DOUBLE_UNALIGNED, i, v);
            case F32 -> seg.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) v);
            case BF16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, BFloat16.fromFloat((float) v));
            case I32 -> seg.setAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i, (int) v);
            default -> throw new UnsupportedOperationException("host store of " + dtype);
        }
    }
}
