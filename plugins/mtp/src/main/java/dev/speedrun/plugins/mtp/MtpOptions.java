package dev.speedrun.plugins.mtp;

import java.util.List;

/**
 * Options of the mtp plugin: the weight schedule as equal phases of the scheduled steps. In phase
 * k (k = floor(P·step/scheduled_steps)) the weights move linearly from {@code start} to
 * {@code end}; the extension steps use the last phase's {@code end}.
 *
 * @param phases one entry per phase; start and end of one phase have the same length
 */
public record MtpOptions(List<Phase> phases) {
    public MtpOptions {
        if (phases == null || phases.isEmpty()) throw new IllegalArgumentException("plugin_options.mtp.phases must list at least one phase");
        for (int i = 0; i < phases.size(); i++) {
            Phase p = phases.get(i);
            if (p == null || p.start() == null || p.end() == null || p.start().isEmpty() || p.start().size() != p.end().size())
                throw new IllegalArgumentException("plugin_options.mtp.phases[" + i + "]: start and end must be non-empty lists of equal length, got " + p);
        }
        phases = List.copyOf(phases);
    }

    /** Weights at the start and end of one phase. */
    public record Phase(List<Double> start, List<Double> end) {}

    /** Record 178: [1, 0.5, 0.25→0], then [1, 0.5→0], then [1]. */
    public static MtpOptions record178() {
        return new MtpOptions(List.of(
                new Phase(List.of(1.0, 0.5, 0.25), List.of(1.0, 0.5, 0.0)),
                new Phase(List.of(1.0, 0.5), List.of(1.0, 0.0)),
                new Phase(List.of(1.0), List.of(1.0))));
    }
}
