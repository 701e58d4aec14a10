package dev.speedrun.model;

import java.util.Arrays;

/**
 * Sizes and layer structure of the record-178 GPT (spec §2). The structural values (which layer
 * stores the skip, which adds it back, which has no attention, ...) are configurable with the
 * record's values as defaults; {@link #validate()} checks they fit the layer count.
 *
 * @param vocabSize        tokens of the tokenizer (50257)
 * @param numLayers        transformer blocks (11)
 * @param numHeads         attention heads (6)
 * @param headDim          dims per head (128); numHeads·headDim must equal modelDim
 * @param modelDim         residual width (768)
 * @param blockSize        tokens per attention-window block (128)
 * @param gateInputDims    leading residual dims read by the smear and head gates (12)
 * @param mlpHidden        MLP hidden width (4·modelDim)
 * @param skipInLayer      layer whose output is pushed to the skip list (3)
 * @param skipOutLayer     layer that adds σ(skip_λ)·skip to its input (6)
 * @param backoutLayer     layer whose output is subtracted (×backout_λ) before the head (7)
 * @param attnFreeLayer    layer without attention (6); -1 for none
 * @param longWindowLayers layers with the long window and the key shift ({3, 10})
 * @param valueEmbedMap    per layer, the value embedding it adds to v, or -1 ({1,2,-1,…,-1,0,1,2})
 * @param numValueEmbeds   value embedding tables (3)
 * @param ropeBase         rotary base: f_j = (1/ropeBase)^(j/(d/4−1)) (1024)
 * @param attnScale        YaRN attention scale after reset (0.1)
 * @param yarnAlpha        YaRN ramp start (1)
 * @param yarnBeta         YaRN ramp end (32)
 * @param softcap          soft cap of the logits (30)
 * @param softcapDivisor   divisor inside the soft-cap sigmoid (7.5)
 * @param qkvInitScale     multiplier of the Q/K/V rows' uniform init bound (1; record 177 used 0.5)
 */
public record GptConfig(int vocabSize, int numLayers, int numHeads, int headDim, int modelDim, int blockSize,
                        int gateInputDims, int mlpHidden, int skipInLayer, int skipOutLayer, int backoutLayer,
                        int attnFreeLayer, int[] longWindowLayers, int[] valueEmbedMap, int numValueEmbeds,
                        double ropeBase, double attnScale, double yarnAlpha, double yarnBeta,
                        double softcap, double softcapDivisor, double qkvInitScale) {

    public GptConfig {
        longWindowLayers = longWindowLayers.clone();
        valueEmbedMap = valueEmbedMap.clone();
    }

    /** The record's model. */
    public static GptConfig record178() { return withSizes(50257, 11, 6, 128, 768, 128, 12); }

    /**
     * The record's 11-layer structure with other sizes (value-embedding map, skip and backout
     * layers as in the record); MLP hidden = 4·modelDim.
     */
    public static GptConfig withSizes(int vocabSize, int numLayers, int numHeads, int headDim, int modelDim,
                                      int blockSize, int gateInputDims) {
        return new GptConfig(vocabSize, numLayers, numHeads, headDim, modelDim, blockSize, gateInputDims, 4 * modelDim,
                3, 6, 7, 6, new int[] {3, 10}, new int[] {1, 2, -1, -1, -1, -1, -1, -1, 0, 1, 2}, 3,
                1024, 0.1, 1, 32, 30, 7.5, 1.0);
    }

    /** This configuration with the Q/K/V init bound multiplied by {@code scale} (record 177: 0.5). */
    public GptConfig withQkvInitScale(double scale) {
        return new GptConfig(vocabSize, numLayers, numHeads, headDim, modelDim, blockSize, gateInputDims, mlpHidden,
                skipInLayer, skipOutLayer, backoutLayer, attnFreeLayer, longWindowLayers, valueEmbedMap, numValueEmbeds,
                ropeBase, attnScale, yarnAlpha, yarnBeta, softcap, softcapDivisor, scale);
    }

    /**
     * Named presets: "record178" (the record), "tiny" (the fixture's sizes: vocab 100, 2 heads × 8,
     * width 16, block 2), "cpu-small" (≈2 M parameters, vocab 50257 is too large for it: vocab 4096,
     * 4 heads × 16, width 64, block 16; trains a few hundred steps on a CPU in minutes).
     */
    public static GptConfig preset(String name) {
        return switch (name) {
            case "record178" -> record178();
            case "tiny" -> withSizes(100, 11, 2, 8, 16, 2, 12);
            case "cpu-small" -> withSizes(4096, 11, 4, 16, 64, 16, 12);
            default -> throw new IllegalArgumentException("unknown model preset '" + name + "' (valid: record178, tiny, cpu-small)");
        };
    }

    /** Vocabulary padded to the next multiple of 128 (50257 → 50304). */
    public int vocabPadded() { return (vocabSize + 127) / 128 * 128; }

    /** Number of attention channels, numHeads·headDim (equals modelDim). */
    public int attnDim() { return numHeads * headDim; }

    public boolean hasAttention(int layer) { return layer != attnFreeLayer; }

    public boolean isLongWindow(int layer) {
        for (int l : longWindowLayers) if (l == layer) return true;
        return false;
    }

    /** Value embedding index of {@code layer}, or -1. */
    public int valueEmbedOf(int layer) { return valueEmbedMap[layer]; }

    /** Entries of {@code scalars} before padding: resid λ (L), sa λ pairs (2L), smear, backout, skip. */
    public int numScalars() { return 3 * numLayers + 3; }

    public int residLambdaIndex(int layer) { return layer; }

    public int saLambdaIndex(int layer, int which) { return numLayers + 2 * layer + which; }

    public int smearLambdaIndex() { return 3 * numLayers; }

    public int backoutLambdaIndex() { return 3 * numLayers + 1; }

    public int skipLambdaIndex() { return 3 * numLayers + 2; }

    /** Checks the sizes and the structure; throws naming the offending value. */
    public GptConfig validate() {
        req(vocabSize > 0, "vocabSize must be > 0: " + vocabSize);
        req(numLayers > 0, "numLayers must be > 0: " + numLayers);
        req(numHeads > 0 && headDim > 0, "numHeads and headDim must be > 0");
        req(headDim % 4 == 0, "headDim must be a multiple of 4 (rotary uses d/4 frequencies): " + headDim);
        req(headDim >= 8, "headDim must be ≥ 8 (rotary needs d/4 ≥ 2 frequencies): " + headDim);
        req(numHeads * headDim == modelDim, "numHeads·headDim (" + numHeads * headDim + ") must equal modelDim (" + modelDim
                + "): qkvo_w stacks Q, K, V and O as equal [modelDim, modelDim] blocks");
        req(gateInputDims > 0 && gateInputDims <= modelDim, "gateInputDims must be in 1.." + modelDim + ": " + gateInputDims);
        req(blockSize > 0 && mlpHidden > 0, "blockSize and mlpHidden must be > 0");
        req(skipInLayer >= 0 && skipOutLayer > skipInLayer && skipOutLayer < numLayers,
                "need 0 ≤ skipInLayer < skipOutLayer < numLayers: " + skipInLayer + ", " + skipOutLayer);
        req(backoutLayer >= 0 && backoutLayer < numLayers, "backoutLayer out of range: " + backoutLayer);
        req(attnFreeLayer >= -1 && attnFreeLayer < numLayers, "attnFreeLayer out of range: " + attnFreeLayer);
        for (int l : longWindowLayers) req(l >= 0 && l < numLayers, "longWindowLayers entry out of range: " + l);
        req(valueEmbedMap.length == numLayers, "valueEmbedMap has " + valueEmbedMap.length + " entries for " + numLayers + " layers");
        for (int v : valueEmbedMap) req(v >= -1 && v < numValueEmbeds, "valueEmbedMap entry out of range: " + v + " " + Arrays.toString(valueEmbedMap));
        return this;
    }

    private static void req(boolean ok, String msg) {
        if (!ok) throw new IllegalArgumentException("GptConfig: " + msg);
    }

    @Override public boolean equals(Object o) {
        return o instanceof GptConfig c && c.toString().equals(toString());
    }

    @Override public int hashCode() { return toString().hashCode(); }

    @Override public String toString() {
        return "GptConfig[vocab=" + vocabSize + "(" + vocabPadded() + "), layers=" + numLayers + ", heads=" + numHeads + "x" + headDim
                + ", dim=" + modelDim + ", block=" + blockSize + ", gate=" + gateInputDims + ", mlp=" + mlpHidden
                + ", skip=" + skipInLayer + "->" + skipOutLayer + ", backout=" + backoutLayer + ", attnFree=" + attnFreeLayer
                + ", long=" + Arrays.toString(longWindowLayers) + ", ve=" + Arrays.toString(valueEmbedMap) + "/" + numValueEmbeds
                + ", rope=" + ropeBase + ", attnScale=" + attnScale + ", yarn=" + yarnAlpha + "/" + yarnBeta
                + ", softcap=" + softcap + "/" + softcapDivisor + "]";
    }
}
