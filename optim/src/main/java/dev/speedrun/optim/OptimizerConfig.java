package dev.speedrun.optim;

import dev.speedrun.kernels.DecayMask;
import dev.speedrun.tensor.DType;
import java.util.List;
import java.util.Objects;

/**
 * One optimizer instance of a training configuration (spec §5).
 *
 * @param name              instance name, unique in a run ("normuon", "adam", "adam_scalars"); used by
 *                          {@link StepPlan#frozen()} and in error messages
 * @param type              provider name: "adam" or "normuon" (any {@link OptimizerProvider})
 * @param labels            parameter labels this instance claims (ParamSpec.label)
 * @param lr                initial learning rate; the step's lr is {@code lr × StepPlan.lrMultiplier}
 * @param beta1             Adam β1 (unused by NorMuon, whose momentum comes with each step)
 * @param beta2             Adam β2; NorMuon's variance-reduction β2
 * @param eps               Adam eps (unused by NorMuon)
 * @param weightDecay       wd; the decay applied per step is wd·wd_mul·lr·lr_eff (the wd·lr schedule)
 * @param stateDType        dtype of the optimizer state (Adam moments, NorMuon momentum buffer and
 *                          second moments); null = each parameter's own dtype, which is the record's
 *                          rule in mixed precision (BF16 state for the BF16 parameters, F32 for
 *                          the F32 ones: docs/model.md)
 * @param decayMask         which elements weight decay touches, by the sign of update·param
 *                          ({@link DecayMask#ALL}, plain decoupled decay, when null); the record's
 *                          cautious masks are chosen by the cwd and adam-cwd-strict plugins
 * @param squareBlockLabels NorMuon only: labels whose [R, C] matrices (R a multiple of C) are treated as
 *                          R/C square [C, C] blocks after the momentum step (the record: "attn")
 * @param polarDType        NorMuon only: the dtype Polar Express runs in (its GEMM operands and
 *                          outputs, and the orthogonalised update); null = the dtype of the momentum
 *                          update (the parameter's). The record: BF16 ({@code polar_express} casts
 *                          to BF16), with the optimizer state unchanged
 */
public record OptimizerConfig(String name, String type, List<String> labels, double lr, double beta1, double beta2,
                              double eps, double weightDecay, DType stateDType, DecayMask decayMask,
                              List<String> squareBlockLabels, DType polarDType) {
    public OptimizerConfig {
        Objects.requireNonNull(name, "optimizer name");
        Objects.requireNonNull(type, "optimizer type of '" + name + "'");
        if (labels == null || labels.isEmpty())
            throw new IllegalArgumentException("optimizer '" + name + "' has no labels");
        labels = List.copyOf(labels);
        squareBlockLabels = squareBlockLabels == null ? List.of() : List.copyOf(squareBlockLabels);
        if (decayMask == null) decayMask = DecayMask.ALL;
        if (!(lr >= 0)) throw new IllegalArgumentException("optimizer '" + name + "': lr must be >= 0, got " + lr);
        if (!(weightDecay >= 0))
            throw new IllegalArgumentException("optimizer '" + name + "': weight decay must be >= 0, got " + weightDecay);
        if (!(beta2 >= 0 && beta2 < 1))
            throw new IllegalArgumentException("optimizer '" + name + "': beta2 must be in [0, 1), got " + beta2);
        if (!(beta1 >= 0 && beta1 < 1))
            throw new IllegalArgumentException("optimizer '" + name + "': beta1 must be in [0, 1), got " + beta1);
        if (stateDType != null && stateDType != DType.F64 && stateDType != DType.F32 && stateDType != DType.BF16)
            throw new IllegalArgumentException("optimizer '" + name + "': state dtype must be f64, f32 or bf16, got " + stateDType);
        if (polarDType != null && polarDType != DType.F64 && polarDType != DType.F32 && polarDType != DType.BF16)
            throw new IllegalArgumentException("optimizer '" + name + "': Polar Express dtype must be f64, f32 or bf16, got " + polarDType);
    }

    /** An Adam instance with plain decay (every element) and state in the parameter dtype. */
    public static OptimizerConfig adam(String name, List<String> labels, double lr, double beta1, double beta2,
                                       double eps, double weightDecay) {
        return new OptimizerConfig(name, "adam", labels, lr, beta1, beta2, eps, weightDecay, null, null, List.of(), null);
    }

    /** A NorMuon instance with plain decay (every element), state in the parameter dtype, no square blocks. */
    public static OptimizerConfig normuon(String name, List<String> labels, double lr, double beta2, double weightDecay) {
        return new OptimizerConfig(name, "normuon", labels, lr, 0, beta2, 0, weightDecay, null, null, List.of(), null);
    }

    public OptimizerConfig withDecayMask(DecayMask mask) {
        return new OptimizerConfig(name, type, labels, lr, beta1, beta2, eps, weightDecay, stateDType, mask, squareBlockLabels, polarDType);
    }

    public OptimizerConfig withStateDType(DType dtype) {
        return new OptimizerConfig(name, type, labels, lr, beta1, beta2, eps, weightDecay, dtype, decayMask, squareBlockLabels, polarDType);
    }

    public OptimizerConfig withSquareBlocks(List<String> blockLabels) {
        return new OptimizerConfig(name, type, labels, lr, beta1, beta2, eps, weightDecay, stateDType, decayMask, blockLabels, polarDType);
    }

    public OptimizerConfig withPolarDType(DType dtype) {
        return new OptimizerConfig(name, type, labels, lr, beta1, beta2, eps, weightDecay, stateDType, decayMask, squareBlockLabels, dtype);
    }
}
