package dev.speedrun.tensor;

import java.util.List;

/** Finds backends registered with ServiceLoader. */
public final class Backends {
    private Backends() {}

    public static List<Backend> all() { return Services.all(Backend.class); }

    /** The backend called {@code name} (any case); an error listing valid names if there is none. */
    public static Backend get(String name) { return Services.named(all(), "backend", Backend::name, String::equalsIgnoreCase, name); }

    /** The CPU backend, always present. */
    public static Backend cpu() { return get("cpu"); }
}
