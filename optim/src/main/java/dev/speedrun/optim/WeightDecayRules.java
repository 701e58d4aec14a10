package dev.speedrun.optim;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;

/** The weight-decay rules a run can name: the built-in "decoupled" plus those registered. */
public final class WeightDecayRules {
    public static final String DEFAULT = DecoupledDecay.NAME;

    private final Map<String, WeightDecayRule> rules;

    private WeightDecayRules(Collection<WeightDecayRule> all) {
        Map<String, WeightDecayRule> m = new LinkedHashMap<>();
        for (WeightDecayRule r : all) {
            WeightDecayRule prev = m.putIfAbsent(r.name(), r);
            if (prev != null && !prev.getClass().equals(r.getClass()))
                throw new IllegalArgumentException("two weight-decay rules named '" + r.name() + "': "
                        + prev.getClass().getName() + " and " + r.getClass().getName());
        }
        this.rules = Map.copyOf(m);
    }

    /** The built-in rule and every {@link WeightDecayRule} registered with ServiceLoader. */
    public static WeightDecayRules fromServiceLoader() {
        List<WeightDecayRule> all = new ArrayList<>();
        all.add(new DecoupledDecay());
        ServiceLoader.load(WeightDecayRule.class).forEach(all::add);
        return new WeightDecayRules(all);
    }

    /** The built-in rule and {@code extra} (e.g. rules bound by plugins' Guice modules). */
    public static WeightDecayRules of(Collection<? extends WeightDecayRule> extra) {
        List<WeightDecayRule> all = new ArrayList<>();
        all.add(new DecoupledDecay());
        all.addAll(extra);
        return new WeightDecayRules(all);
    }

    /** These rules plus {@code extra}. */
    public WeightDecayRules with(WeightDecayRule... extra) {
        List<WeightDecayRule> all = new ArrayList<>(rules.values());
        all.addAll(List.of(extra));
        return new WeightDecayRules(all);
    }

    public WeightDecayRule get(String name) {
        WeightDecayRule r = rules.get(name);
        if (r == null)
            throw new IllegalArgumentException("unknown weight-decay rule '" + name + "' (valid: "
                    + String.join(", ", rules.keySet().stream().sorted().toList()) + ")");
        return r;
    }

    public List<String> names() { return rules.keySet().stream().sorted().toList(); }
}
