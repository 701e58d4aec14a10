package dev.speedrun.plugin;

/**
 * Multi-token loss weights per step ({@code w[0]} for the next token, {@code w[j]} for the token
 * j further on). The trainer's default is {@code [1]} (next-token prediction); the mtp plugin
 * replaces it. Must be a pure function of the step.
 */
@FunctionalInterface
public interface TokenWeights {
    double[] at(int step);
}
