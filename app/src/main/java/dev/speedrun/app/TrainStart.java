package dev.speedrun.app;

import dev.speedrun.app.config.ConfigException;
import dev.speedrun.data.DataPosition;
import dev.speedrun.model.Gpt;
import dev.speedrun.optim.Optimizers;
import java.nio.file.Path;

/**
 * Where a rank's training starts: the first step to train, the data position, and the clock and
 * token count of the steps before it.
 */
record TrainStart(int step, DataPosition position, double trainTimeMs, long tokens) {
    static final TrainStart FRESH = new TrainStart(0, DataPosition.START, 0, 0);

    /**
     * Loads checkpoint {@code ck} into this rank's model, optimizer state (a collective over the
     * ranks) and, when {@code grads} (not a re-sharded resume), pending gradients, and returns
     * where it stopped.
     */
    static TrainStart resume(Path ck, Gpt model, Optimizers opt, int rank, int trainSteps, boolean grads) {
        var st = TrainCheckpoint.readState(ck);
        TrainCheckpoint.load(ck, model, opt, rank, grads);
        if (st.step() > trainSteps)
            throw new ConfigException("--resume: checkpoint is at step " + st.step() + ", beyond this run's " + trainSteps + " steps");
        return new TrainStart(st.step(), st.position(), Double.parseDouble(st.info().getOrDefault("train_time_ms", "0")),
                Long.parseLong(st.info().getOrDefault("tokens", "0")));
    }
}
