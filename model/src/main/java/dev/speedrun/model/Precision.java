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
 *       attention/MLP matrices and scalars), BF16 activations, F32 statistics, each gradient in
 *       its parameter's dtype and accumulated there (BF16 for the BF16 parameters, as the record's
 *       autograd accumulates {@code .grad} across micro-batches and Adam's two steps); F32
 *       parameters used by a GEMM are cast to a BF16 working copy at the start of each forward
 *       (GEMM inputs share a dtype), accumulation is F32 inside every op. The optimizers keep their
 *       state in the parameter's dtype and run Polar Express in BF16 ({@link #polarExpressDType()})
 *       (docs/model.md has the whole table).</li>
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
     * Dtype of {@code spec}'s gradient, which is also the dtype it accumulates in: the parameter's
     * dtype. In mixed mode that is the record's choice (train_gpt.py: autograd's {@code .grad} has
     * the parameter's dtype), BF16 for embed, lm_head, the value embeddings and the gates, so their
     * sums over micro-batches and over the two steps Adam adds lose what the record loses (adding x
     * to y in BF16 drops x once |x| < |y|·2^-9). Each op adds one backward's contribution rounded
     * to BF16 first, as the record's per-backward gradient is (docs/model.md, Precision).
     */
    public DType gradDType(ParamSpec spec) { return paramDType(spec); }

    /**
     * The dtype NorMuon's Polar Express iterations run in, or null for the dtype of the update
     * they orthogonalise (F64/F32 in uniform precision). Mixed: BF16 as the record
     * ({@code polar_express}: {@code X = G.bfloat16()}), BF16 GEMM operands with F32 accumulation.
     */
    public DType polarExpressDType() { return specParamDTypes ? DType.BF16 : null; }
}
