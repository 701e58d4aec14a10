package dev.speedrun.app;

import dev.speedrun.kernels.Ops;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.ParameterTable;
import dev.speedrun.optim.Optimizers;
import dev.speedrun.schedules.RecordSchedules;
import dev.speedrun.schedules.TrainingContext;

/** The {@link TrainingContext} of one rank: its model, its optimizers, the current step. */
final class RankContext implements TrainingContext {
    private final Gpt model;
    private final Optimizers optimizers;
    private final RecordSchedules schedules;
    private final int totalSteps;
    int step;

    RankContext(Gpt model, Optimizers optimizers, RecordSchedules schedules, int totalSteps) {
        this.model = model;
        this.optimizers = optimizers;
        this.schedules = schedules;
        this.totalSteps = totalSteps;
    }

    @Override public int step() { return step; }

    @Override public int totalSteps() { return totalSteps; }

    @Override public RecordSchedules schedules() { return schedules; }

    @Override public ParameterTable parameters() { return model; }

    @Override public Ops ops() { return model.ops(); }

    @Override public void copyOptimizerState(String from, String to) { optimizers.copyState(from, to); }

    @Override public void setEmbeddingTied(boolean tied) { model.setSplitEmbed(!tied); }
}
