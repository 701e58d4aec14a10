package dev.speedrun.tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import java.util.function.BiPredicate;
import java.util.function.Function;

/**
 * Implementations of a service interface registered with {@link ServiceLoader} and chosen by
 * name (backends, losses): the lookup and its error are written once.
 */
public final class Services {
    private Services() {}

    /** Every implementation of {@code service} on the class path, in ServiceLoader order. */
    public static <T> List<T> all(Class<T> service) {
        List<T> list = new ArrayList<>();
        ServiceLoader.load(service).forEach(list::add);
        return list;
    }

    /**
     * The first of {@code candidates} whose name matches {@code name} by {@code matches}
     * ({@code String::equals}, or {@code String::equalsIgnoreCase} where case does not count);
     * otherwise {@code unknown <kind> 'name' (valid: a, b)}.
     */
    public static <T> T named(List<T> candidates, String kind, Function<? super T, String> nameOf,
                              BiPredicate<String, String> matches, String name) {
        for (T c : candidates) if (matches.test(nameOf.apply(c), name)) return c;
        throw new IllegalArgumentException("unknown " + kind + " '" + name + "' (valid: "
                + String.join(", ", candidates.stream().map(nameOf).toList()) + ")");
    }
}
