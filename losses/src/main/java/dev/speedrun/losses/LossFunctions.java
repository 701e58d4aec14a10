package dev.speedrun.losses;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/** Finds loss functions registered with ServiceLoader. */
public final class LossFunctions {
    private LossFunctions() {}

    public static List<LossFunction> all() {
        List<LossFunction> list = new ArrayList<>();
        ServiceLoader.load(LossFunction.class).forEach(list::add);
        return list;
    }

    /** The loss called {@code name}; an error listing the valid names otherwise. */
    public static LossFunction get(String name) {
        List<LossFunction> all = all();
        for (LossFunction f : all) if (f.name().equals(name)) return f;
        throw new IllegalArgumentException("unknown loss '" + name + "' (valid: "
                + String.join(", ", all.stream().map(LossFunction::name).toList()) + ")");
    }

    /** The record's soft-capped cross-entropy. */
    public static LossFunction defaultLoss() { return get(SoftcapCrossEntropy.NAME); }
}
