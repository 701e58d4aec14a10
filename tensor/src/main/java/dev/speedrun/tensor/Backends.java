package dev.speedrun.tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/** Finds backends registered with ServiceLoader. */
public final class Backends {
    private Backends() {}

    public static List<Backend> all() {
        List<Backend> list = new ArrayList<>();
        ServiceLoader.load(Backend.class).forEach(list::add);
        return list;
    }

    /** The backend called {@code name}; an error listing valid names if there is none. */
    public static Backend get(String name) {
        List<Backend> all = all();
        for (Backend b : all) if (b.name().equalsIgnoreCase(name)) return b;
        throw new IllegalArgumentException("unknown backend '" + name + "' (valid: "
                + String.join(", ", all.stream().map(Backend::name).toList()) + ")");
    }

    /** The CPU backend, always present. */
    public static Backend cpu() { return get("cpu"); }
}
