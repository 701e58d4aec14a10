package dev.speedrun.model;

import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;

/**
 * YaRN state of the rotary embedding (spec §2): the angular frequencies (d/2 values, the last d/4
 * zero) and the attention scale. {@link #apply} stretches the frequencies when the long window
 * grows. The host copy is authoritative; the device tensor {@code freqs} [d/2] is rewritten after
 * each change.
 */
public final class Yarn {
    private final GptConfig config;
    private final Tensor freqs;
    private final double[] host;
    private double attnScale;

    /** @param freqs [headDim/2] device tensor the rotary op reads (F32/F64) */
    public Yarn(GptConfig config, Tensor freqs) {
        if (freqs.numel() != config.headDim() / 2)
            throw new IllegalArgumentException("freqs " + freqs + " must have headDim/2 = " + config.headDim() / 2 + " entries");
        this.config = config;
        this.freqs = freqs;
        this.host = new double[config.headDim() / 2];
        reset();
    }

    /** f_j = (1/ropeBase)^(j/(q−1)) for j < q = d/4, then q zeros; attn_scale = config value. */
    public void reset() {
        int q = config.headDim() / 4;
        for (int j = 0; j < host.length; j++) host[j] = j < q ? Math.pow(1.0 / config.ropeBase(), (double) j / (q - 1)) : 0.0;
        attnScale = config.attnScale();
        HostData.write(freqs, host);
    }

    /** Long window changes from {@code oldWindow} to {@code newWindow} blocks (both ≥ 1). */
    public void apply(int oldWindow, int newWindow) {
        if (oldWindow <= 0 || newWindow <= 0)
            throw new IllegalArgumentException("YaRN windows must be ≥ 1 block: " + oldWindow + " → " + newWindow);
        double s = (double) oldWindow / newWindow;
        double a = config.yarnAlpha(), b = config.yarnBeta();
        for (int j = 0; j < host.length; j++) {
            double r = config.blockSize() * oldWindow * host[j] / (2 * Math.PI);
            double g = Math.min(1.0, Math.max(0.0, (r - a) / (b - a)));
            host[j] *= s + g * (1 - s);
        }
        attnScale *= 0.2 * Math.log((double) newWindow / oldWindow) + 1;
        // a window change happens inside a run, between steps: queued, so the host does not wait
        HostData.writeAsync(freqs, host);
    }

    /** Current frequencies (a copy), [headDim/2]. */
    public double[] angularFreq() { return host.clone(); }

    public double attnScale() { return attnScale; }

    /** The device tensor of frequencies [headDim/2]. */
    public Tensor freqs() { return freqs; }
}
