package dev.speedrun.plugins.cwd;

/**
 * Options of the cwd plugin: which optimizers decay cautiously.
 * @param normuon cautious decay in NorMuon (mask v·p ≥ 0)
 * @param adam    cautious decay in Adam (mask u·p ≥ 0; adam-cwd-strict makes it &gt;)
 */
public record CwdOptions(boolean normuon, boolean adam) {
    public static final CwdOptions DEFAULT = new CwdOptions(true, true);
}
