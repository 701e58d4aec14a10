package dev.speedrun.app;

import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.collective.InProcessCollectives;
import dev.speedrun.model.ParameterTable;
import dev.speedrun.optim.OptimizerConfig;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.optim.WeightDecayRule;
import dev.speedrun.optim.WeightDecayRules;
import dev.speedrun.tensor.DType;
import java.util.List;

/** The record's optimizer configuration (docs/optim.md, spec §5): NorMuon for the matrices, Adam for the rest. */
public final class RecordOptimizers {
    private RecordOptimizers() {}

    /**
     * @param state     dtype of NorMuon's momentum and second moments and of the scalars' Adam moments (F32, or F64 on CPU)
     * @param adamState dtype of Adam's moments (BF16 as the record on GPU; F32/F64 on CPU)
     */
    public static List<OptimizerConfig> configs(DType state, DType adamState) {
        return List.of(
                OptimizerConfig.normuon("normuon", List.of("attn_gate", "attn", "mlp"), 0.023, 0.95, 1.2)
                        .withSquareBlocks(List.of("attn"))
                        .withStateDType(state)
                        .withDecayRule("cautious"),
                OptimizerConfig.adam("adam", List.of("lm_head", "value_embed", "smear_gate", "x0_lambdas", "embed"),
                                0.008, 0.65, 0.95, 1e-8, 0.005)
                        .withStateDType(adamState)
                        .withDecayRule("cautious-strict"),
                OptimizerConfig.adam("adam_scalars", List.of("scalars"), 0.008, 0.9, 0.99, 1e-8, 0.005)
                        .withStateDType(state));
    }

    /**
     * The decay rules from ServiceLoader, plus the record's cautious rules ("cautious": decay where
     * update·param ≥ 0; "cautious-strict": > 0, spec §5) when no plugin registered them.
     */
    public static WeightDecayRules rules() {
        WeightDecayRules r = WeightDecayRules.fromServiceLoader();
        if (!r.names().contains("cautious")) r = r.with(WeightDecayRule.of("cautious", DecayMask.GE));
        if (!r.names().contains("cautious-strict")) r = r.with(WeightDecayRule.of("cautious-strict", DecayMask.GT));
        return r;
    }

    /** Single-rank optimizers of {@link #configs} over {@code table}. */
    public static Optimizers build(ParameterTable table, Ops ops, DType state, DType adamState) {
        return Optimizers.build(configs(state, adamState), table, ops, InProcessCollectives.create(1).getFirst(), rules());
    }
}
