package dev.speedrun.tensor;

/** Element types. Sizes in bytes; FP8 types are storage-only (GEMM inputs on GPUs). */
public enum DType {
    F64(8, true, 0x1p-52),
    F32(4, true, 0x1p-23),
    BF16(2, true, 0x1p-7),
    I32(4, false, 0),
    FP8_E4M3(1, true, 0x1p-3),
    FP8_E5M2(1, true, 0x1p-2);

    private final int byteSize;
    private final boolean floating;
    private final double epsilon;

    DType(int byteSize, boolean floating, double epsilon) {
        this.byteSize = byteSize;
        this.floating = floating;
        this.epsilon = epsilon;
    }

    public int byteSize() { return byteSize; }

    public boolean isFloating() { return floating; }

    /** Machine epsilon (distance from 1 to the next value); the RMS-norm eps of the spec. */
    public double epsilon() {
        if (!floating) throw new IllegalStateException(this + " has no machine epsilon");
        return epsilon;
    }

    /** Parses "f32", "F32", "bf16", ... naming the valid values on error. */
    public static DType parse(String s) {
        for (DType d : values()) if (d.name().equalsIgnoreCase(s)) return d;
        throw new IllegalArgumentException("unknown dtype '" + s + "' (valid: f64, f32, bf16, i32, fp8_e4m3, fp8_e5m2)");
    }
}
