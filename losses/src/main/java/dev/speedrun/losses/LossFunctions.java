package dev.speedrun.losses;

import dev.speedrun.tensor.Services;
import java.util.List;

/** Finds loss functions registered with ServiceLoader. */
public final class LossFunctions {
    private LossFunctions() {}

    public static List<LossFunction> all() { return Services.all(LossFunction.class); }

    /** The loss called {@code name} (exact case); an error listing the valid names otherwise. */
    public static LossFunction get(String name) { return Services.named(all(), "loss", LossFunction::name, String::equals, name); }

    /** The record's soft-capped cross-entropy. */
    public static LossFunction defaultLoss() { return get(SoftcapCrossEntropy.NAME); }
}
