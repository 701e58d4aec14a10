package dev.speedrun.app;

import dev.speedrun.app.config.ConfigLoader;
import dev.speedrun.app.config.TrainConfig;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.collective.InProcessCollectives;
import dev.speedrun.model.ParameterTable;
import dev.speedrun.model.Precision;
import dev.speedrun.optim.OptimizerConfig;
import dev.speedrun.optim.Optimizers;
import java.util.List;
import java.util.Map;

/**
 * The record's optimizers (spec §5, docs/optim.md): NorMuon for the matrices, Adam for the rest,
 * a second Adam for {@code scalars}. The one place that maps labels to optimizers; the trainer,
 * {@code bench step} and the GPU tests all build them here.
 */
public final class RecordOptimizers {
    public static final String NORMUON = "normuon", ADAM = "adam", ADAM_SCALARS = "adam_scalars";

    private RecordOptimizers() {}

    /**
     * The record's three instances with the dtypes of {@code precision}: every optimizer state
     * tensor in its parameter's dtype (the record's rule, docs/model.md: BF16 Adam moments for the
     * BF16 parameters, F32 for x0_lambdas and scalars; NorMuon's buffers F32 for attn/mlp, BF16 for
     * attn_gate), and NorMuon's Polar Express in {@link Precision#polarExpressDType()} (BF16 in
     * mixed precision). F32/F64 precision: everything in that dtype.
     * @param normuonMask / adamMask decay masks chosen by the plugins (ALL = plain decay)
     */
    public static List<OptimizerConfig> configs(TrainConfig.OptimSection o, DecayMask normuonMask, DecayMask adamMask,
                                                Precision precision) {
        var nm = o.normuon();
        var a = o.adam();
        var s = o.adamScalars();
        return List.of(
                OptimizerConfig.normuon(NORMUON, List.of("attn_gate", "attn", "mlp"), nm.lr(), nm.beta2(), nm.weightDecay())
                        .withSquareBlocks(List.of("attn")).withDecayMask(normuonMask).withPolarDType(precision.polarExpressDType()),
                OptimizerConfig.adam(ADAM, List.of("lm_head", "value_embed", "smear_gate", "x0_lambdas", "embed"), a.lr(), a.beta1(),
                        a.beta2(), a.eps(), a.weightDecay()).withDecayMask(adamMask),
                OptimizerConfig.adam(ADAM_SCALARS, List.of("scalars"), s.lr(), s.beta1(), s.beta2(), s.eps(), s.weightDecay())
                        .withDecayMask(adamMask));
    }

    /**
     * Single-rank optimizers of record 178 ({@code configs/record-178.yaml}, with its plugins'
     * masks: NorMuon {@code ≥}, Adam {@code >}) over {@code table}, with the dtypes of {@code precision}.
     */
    public static Optimizers build(ParameterTable table, Ops ops, Precision precision) {
        TrainConfig cfg = ConfigLoader.load("record-178", Map.of());
        return Optimizers.build(configs(cfg.optim(), DecayMask.GE, DecayMask.GT, precision), table, ops,
                InProcessCollectives.create(1).getFirst());
    }
}
