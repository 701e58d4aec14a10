package dev.speedrun.kernels.cpu;

import dev.speedrun.tensor.DType;

/**
 * FP8 encoding on the host, bit for bit what CUDA's {@code __nv_cvt_float_to_fp8(x, __NV_SATFINITE, ·)}
 * (PTX {@code cvt.rn.satfinite}) produces: round to nearest even onto the format's grid,
 * subnormals kept, magnitudes above the largest finite value (and ±∞) saturated to it, NaN to the
 * format's canonical NaN (0x7F). E4M3 ("fn": bias 7, 3 mantissa bits, no ∞, largest 448) and E5M2
 * (bias 15, 2 mantissa bits, largest finite 57344).
 */
final class Fp8 {
    private Fp8() {}

    private static int mantissaBits(DType f) { return f == DType.FP8_E4M3 ? 3 : 2; }

    private static int bias(DType f) { return f == DType.FP8_E4M3 ? 7 : 15; }

    /** The largest finite value of the format. */
    static double max(DType f) { return f == DType.FP8_E4M3 ? 448 : 57344; }

    /** {@code v} rounded (nearest even, saturating) into format {@code f}, as its byte. */
    static byte encode(float v, DType f) {
        if (Float.isNaN(v)) return 0x7F;
        int sign = (Float.floatToRawIntBits(v) >>> 31) << 7;
        double a = Math.abs((double) v);
        int man = mantissaBits(f), minExp = 1 - bias(f);
        if (a > max(f)) return (byte) (sign | code(max(f), man, minExp, f));
        // the grid spacing at a's binade (the subnormal spacing below the normal range): dividing by a
        // power of two is exact, so rint rounds a itself to nearest even on the grid
        int e = Math.max(Math.getExponent(a), minExp);
        double q = Math.scalb(1.0, e - man);
        double r = Math.rint(a / q) * q;
        if (r > max(f)) r = max(f);
        return (byte) (sign | code(r, man, minExp, f));
    }

    /** The bits (without sign) of a non-negative value r that lies on the format's grid. */
    private static int code(double r, int man, int minExp, DType f) {
        if (r == 0) return 0;
        int e = Math.getExponent(r);
        if (e < minExp) return (int) Math.round(r / Math.scalb(1.0, minExp - man));   // subnormal: exponent field 0
        int m = (int) Math.round((r / Math.scalb(1.0, e) - 1) * (1 << man));
        return ((e + bias(f)) << man) | m;
    }

    /** Every byte's value per format (the GEMM decodes a value per element: a table lookup). */
    private static final float[] E4M3_VALUES = table(DType.FP8_E4M3), E5M2_VALUES = table(DType.FP8_E5M2);

    private static float[] table(DType f) {
        float[] t = new float[256];
        for (int b = 0; b < 256; b++) t[b] = value((byte) b, f);
        return t;
    }

    /** The value of byte {@code b} in format {@code f} (exact in float). */
    static float decode(byte b, DType f) { return (f == DType.FP8_E4M3 ? E4M3_VALUES : E5M2_VALUES)[b & 0xFF]; }

    private static float value(byte b, DType f) {
        int bits = b & 0xFF, man = mantissaBits(f), expBits = 7 - man;
        int sign = bits >>> 7, exp = (bits >>> man) & ((1 << expBits) - 1), m = bits & ((1 << man) - 1);
        double v;
        if (f == DType.FP8_E4M3 && exp == 15 && m == 7) v = Double.NaN;
        else if (f == DType.FP8_E5M2 && exp == 31) v = m == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        else if (exp == 0) v = m * Math.scalb(1.0, 1 - bias(f) - man);
        else v = (1 + m / (double) (1 << man)) * Math.scalb(1.0, exp - bias(f));
        return (float) (sign == 1 ? -v : v);
    }

    /** The record's quantisation of one element: {@code fp8(x / s)} with the quotient in F32. */
    static byte quantize(double x, float s, DType f) { return encode((float) x / s, f); }
}
