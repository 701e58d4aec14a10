package dev.speedrun.model;

import dev.speedrun.tensor.DType;
import java.util.Arrays;
import java.util.Locale;

/**
 * The model's dtypes: parameters, their gradients, activations and saved statistics.
 *
 * <ul>
 *   <li>{@link #F64}, {@link #F32}, {@link #BF16} ({@link #uniform(DType)}): every parameter,
 *       gradient and activation in one dtype (F64 or F32 on CPU; F32 on GPU). Saved statistics
 *       (rrms, lse, gates) follow it, except that BF16 keeps them in F32 (the GPU kernels
 *       require F32 statistics).</li>
 *   <li>{@link #MIXED}: the record's mixed precision: each parameter in its spec dtype
 *       ({@link ParamSpec#gpuDType()}: BF16 embeddings, lm_head, value embeddings and gates; F32
 *       attention/MLP matrices and scalars), BF16 activations, F32 statistics, F32 gradients
 *       for every parameter; F32 parameters used by a GEMM are cast to a BF16 working copy at the
 *       start of each forward (GEMM inputs share a dtype), accumulation is F32 inside every op.</li>
 * </ul>
 */
public enum Precision {
    F64(DType.F64, DType.F64, false),
    F32(DType.F32, DType.F32, false),
    BF16(DType.BF16, DType.F32, false),
    MIXED(DType.BF16, DType.F32, true);

    private final DType activations, statistics;
    private final boolean specParamDTypes;

    /**
     * @param activations     dtype of activations and activation gradients
     * @param statistics      dtype of saved statistics and loss scratch
     * @param specParamDTypes parameters in their spec dtypes (mixed) instead of {@code activations}
     */
    Precision(DType activations, DType statistics, boolean specParamDTypes) {
        this.activations = activations;
        this.statistics = statistics;
        this.specParamDTypes = specParamDTypes;
    }

    /** Everything in {@code dtype} (statistics F32 when dtype is BF16). */
    public static Precision uniform(DType dtype) {
        return switch (dtype) {
            case F64 -> F64;
            case F32 -> F32;
            case BF16 -> BF16;
            default -> throw new IllegalArgumentException("model dtype must be f64, f32 or bf16: " + dtype);
        };
    }

    /** The precision called {@code s} ({@link #key()}, any case); an error listing the valid names otherwise. */
    public static Precision parse(String s) {
        for (Precision p : values()) if (p.key().equalsIgnoreCase(s)) return p;
        throw new IllegalArgumentException("unknown precision '" + s + "' (valid: " + String.join(", ", Arrays.stream(values()).map(Precision::key).toList()) + ")");
    }

    /** The lower-case name configurations and flags use ("f64", "f32", "bf16", "mixed"). */
    public String key() { return name().toLowerCase(Locale.ROOT); }

    public DType activations() { return activations; }

    public DType statistics() { return statistics; }

    /** Whether parameters take their spec dtypes ({@link #MIXED}) instead of the activations'. */
    public boolean specParamDTypes() { return specParamDTypes; }

    /** Dtype of {@code spec}'s value. */
    public DType paramDType(ParamSpec spec) { return specParamDTypes ? spec.gpuDType() : activations; }

    /**
     * Dtype of {@code spec}'s gradient: F32 in mixed mode. BF16 gradients would lose the small
     * terms of the embedding scatter-adds (thousands of tokens add into the same rows) and of
     * accumulation over micro-batches and Adam's two-step sums: with 8 significant bits, adding
     * x to y drops x entirely once |x| < |y|·2^-9.
     */
    public DType gradDType(ParamSpec spec) { return specParamDTypes ? DType.F32 : activations; }
}
