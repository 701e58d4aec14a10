package dev.speedrun.app;

import dev.speedrun.app.config.ConfigLoader;
import dev.speedrun.app.config.TrainConfig;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.collective.InProcessCollectives;
import dev.speedrun.model.ParameterTable;
import dev.speedrun.optim.OptimizerConfig;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.tensor.DType;
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
     * @param normuonMask / adamMask decay masks chosen by the plugins (ALL = plain decay)
     * @param state      dtype of NorMuon's buffers and the scalars' Adam moments; null = the parameter's dtype
     * @param adamState  dtype of Adam's moments (BF16 as the record on GPU); null = the parameter's dtype
     */
    public static List<OptimizerConfig> configs(TrainConfig.OptimSection o, DecayMask normuonMask, DecayMask adamMask,
                                                DType state, DType adamState) {
        var nm = o.normuon();
        var a = o.adam();
        var s = o.adamScalars();
        return List.of(
                OptimizerConfig.normuon(NORMUON, List.of("attn_gate", "attn", "mlp"), nm.lr(), nm.beta2(), nm.weightDecay())
                        .withSquareBlocks(List.of("attn")).withDecayMask(normuonMask).withStateDType(state),
                OptimizerConfig.adam(ADAM, List.of("lm_head", "value_embed", "smear_gate", "x0_lambdas", "embed"), a.lr(), a.beta1(),
                        a.beta2(), a.eps(), a.weightDecay()).withDecayMask(adamMask).withStateDType(adamState),
                OptimizerConfig.adam(ADAM_SCALARS, List.of("scalars"), s.lr(), s.beta1(), s.beta2(), s.eps(), s.weightDecay())
                        .withDecayMask(adamMask).withStateDType(state));
    }

    /**
     * Single-rank optimizers of record 178 ({@code configs/record-178.yaml}, with its plugins'
     * masks: NorMuon {@code ≥}, Adam {@code >}) over {@code table}.
     */
    public static Optimizers build(ParameterTable table, Ops ops, DType state, DType adamState) {
        TrainConfig cfg = ConfigLoader.load("record-178", Map.of());
        return Optimizers.build(configs(cfg.optim(), DecayMask.GE, DecayMask.GT, state, adamState), table, ops,
                InProcessCollectives.create(1).getFirst());
    }
}
