package dev.speedrun.kernels.cpu;

import dev.speedrun.tensor.BFloat16;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Element access on host segments by dtype (F64, F32, BF16 as doubles; I32 as int). Unaligned
 * layouts because a view may start at any element of its storage.
 */
final class Acc {
    private Acc() {}

    static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    static final ValueLayout.OfShort S = ValueLayout.JAVA_SHORT_UNALIGNED;
    static final ValueLayout.OfInt I = ValueLayout.JAVA_INT_UNALIGNED;

    /** Element {@code i} of a floating segment as a double. */
    static double get(MemorySegment s, DType t, long i) {
        if (t == DType.F32) return s.getAtIndex(F, i);
        if (t == DType.F64) return s.getAtIndex(D, i);
        return BFloat16.toFloat(s.getAtIndex(S, i));
    }

    /** Stores {@code v} rounded to nearest even in {@code t}. */
    static void set(MemorySegment s, DType t, long i, double v) {
        if (t == DType.F32) s.setAtIndex(F, i, (float) v);
        else if (t == DType.F64) s.setAtIndex(D, i, v);
        else s.setAtIndex(S, i, toBf16(v));
    }

    /** {@code s[i] += v}. */
    static void add(MemorySegment s, DType t, long i, double v) {
        set(s, t, i, get(s, t, i) + v);
    }

    /**
     * {@code s[i] += v} into a parameter gradient: a BF16 gradient gets {@code v} rounded to BF16
     * first, then the sum rounded (the record's per-backward BF16 gradient added into the
     * accumulated BF16 {@code .grad}); F32 and F64 as {@link #add}. common.cuh {@code acc_grad}.
     */
    static void addGrad(MemorySegment s, DType t, long i, double v) {
        add(s, t, i, t == DType.BF16 ? round(t, v) : v);
    }

    /** The value {@code v} as stored in {@code t} (what a read after {@link #set} returns). */
    static double round(DType t, double v) {
        if (t == DType.F32) return (float) v;
        if (t == DType.F64) return v;
        return BFloat16.toFloat(toBf16(v));
    }

    static int getInt(MemorySegment s, long i) { return s.getAtIndex(I, i); }

    /** The value of a [1] scalar coefficient tensor; null means 1 (the {@code Ops} convention). */
    static double scalarOr1(Tensor t) { return t == null ? 1.0 : get(t.segment(), t.dtype(), 0); }

    /** Σ a[ao+d]·b[bo+d] over d < n, in double. */
    static double dot(MemorySegment as, DType ad, long ao, MemorySegment bs, DType bd, long bo, int n) {
        double s = 0;
        for (int d = 0; d < n; d++) s += get(as, ad, ao + d) * get(bs, bd, bo + d);
        return s;
    }

    static double sigmoid(double x) { return 1.0 / (1.0 + Math.exp(-x)); }

    /**
     * double → bf16 with one round-to-nearest-even. Going through float first rounds twice; that
     * is only wrong when the float lands exactly on a bf16 tie while the double was not on it,
     * so that case is decided by the side of the tie the double lies on.
     */
    static short toBf16(double v) {
        float f = (float) v;
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0xffff) == 0x8000 && (double) f != v && !Float.isNaN(f) && !Float.isInfinite(f)) {
            boolean up = Math.abs(v) > Math.abs((double) f);
            return (short) (up ? (bits >>> 16) + 1 : bits >>> 16);
        }
        return BFloat16.fromFloat(f);
    }
}
