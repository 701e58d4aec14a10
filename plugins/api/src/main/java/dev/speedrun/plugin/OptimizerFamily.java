package dev.speedrun.plugin;

/**
 * The optimizer families of the record a {@link DecayPolicy} speaks for: NorMuon (the matrices)
 * and Adam (every other parameter, the scalars' instance included).
 */
public enum OptimizerFamily { NORMUON, ADAM }
