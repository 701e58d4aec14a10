package dev.speedrun.model;

import dev.speedrun.tensor.DType;

/**
 * The model's dtypes: parameters, their gradients, activations and saved statistics.
 *
 * <ul>
 *   <li>{@link #uniform(DType)}: every parameter, gradient and activation in one dtype (F64 or F32
 *       on CPU; F32 on GPU). Saved statistics (rrms, lse, gates) follow it, except that BF16
 *       keeps them in F32 (the GPU kernels require F32 statistics).</li>
 *   <li>{@link #MIXED}: the record's mixed precision: each parameter in its spec dtype
 *       ({@link ParamSpec#gpuDType()}: BF16 embeddings, lm_head, value embeddings and gates; F32
 *       attention/MLP matrices and scalars), BF16 activations, F32 statistics, F32 gradients
 *       for every parameter; F32 parameters used by a GEMM are cast to a BF16 working copy at the
 *       start of each forward (GEMM inputs share a dtype), accumulation is F32 inside every op.</li>
 * </ul>
 *
 * @param name            short name ("f64", "f32", "bf16", "mixed")
 * @param activations     dtype of activations and activation gradients
 * @param statistics      dtype of saved statistics and loss scratch
 * @param specParamDTypes parameters in their spec dtypes (mixed) instead of {@code activations}
 */
public record Precision(String name, DType activations, DType statistics, boolean specParamDTypes) {
    /** The record's mixed precision (see the class comment). */
    public static final Precision MIXED = new Precision("mixed", DType.BF16, DType.F32, true);

    public Precision {
        if (!activations.isFloating() || !statistics.isFloating())
            throw new IllegalArgumentException("precision '" + name + "': activations and statistics must be floating, got "
                    + activations + " / " + statistics);
    }

    /** Everything in {@code dtype} (statistics F32 when dtype is BF16). */
    public static Precision uniform(DType dtype) {
        if (!dtype.isFloating()) throw new IllegalArgumentException("model dtype must be floating: " + dtype);
        return new Precision(dtype.name().toLowerCase(), dtype, dtype == DType.BF16 ? DType.F32 : dtype, false);
    }

    /** "mixed", or a dtype name for {@link #uniform} ("f64", "f32", "bf16"). */
    public static Precision parse(String s) {
        if (s.equalsIgnoreCase("mixed")) return MIXED;
        return uniform(DType.parse(s));
    }

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
