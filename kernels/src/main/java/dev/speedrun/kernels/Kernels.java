package dev.speedrun.kernels;

import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.Backends;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/** Finds the ops of a backend by name. */
public final class Kernels {
    private Kernels() {}

    /** Ops of the backend called {@code name}; an error naming the valid ones otherwise. */
    public static Ops ops(String name) {
        Backend backend = Backends.get(name);
        if (!backend.isAvailable())
            throw new IllegalStateException("backend '" + backend.name() + "' is not available: " + backend.unavailableReason()
                    + (backend.name().equals("cpu") ? "" : " (--backend cpu works on any machine)"));
        List<String> names = new ArrayList<>();
        for (OpsProvider p : ServiceLoader.load(OpsProvider.class)) {
            if (p.backend().equalsIgnoreCase(backend.name())) return p.create(backend);
            names.add(p.backend());
        }
        throw new IllegalArgumentException("no ops for backend '" + name + "' (have: " + String.join(", ", names) + ")");
    }

    public static Ops cpu() { return ops("cpu"); }

    /** {@link OpsProvider#describe} of the ops of backend {@code name}; empty when it has none. */
    public static String describe(String name) {
        for (OpsProvider p : ServiceLoader.load(OpsProvider.class)) if (p.backend().equalsIgnoreCase(name)) return p.describe();
        return "";
    }
}
