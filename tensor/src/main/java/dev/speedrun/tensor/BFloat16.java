package dev.speedrun.tensor;

/** bfloat16 as the high 16 bits of an IEEE float; float→bf16 rounds to nearest even. */
public final class BFloat16 {
    private BFloat16() {}

    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) return (short) ((bits >>> 16) | 0x40); // quiet NaN
        int lsb = (bits >>> 16) & 1;
        return (short) ((bits + 0x7fff + lsb) >>> 16);
    }

    public static float toFloat(short b) { return Float.intBitsToFloat((b & 0xffff) << 16); }

    /** Rounds a float to the nearest bf16 value, returned as float. */
    public static float round(float f) { return toFloat(fromFloat(f)); }
}
