package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.tensor.BFloat16;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.testsupport.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Safetensors round trips and the errors of a bad file. */
class CheckpointTest {
    @TempDir Path dir;

    private static final JsonNode FX = Fixtures.json("model_tiny.json");
    private static final GptConfig CFG = TestSupport.config(FX.get("config"));
    private static final int[] TOK = Fixtures.ints(FX.get("tokens")), TGT = Fixtures.ints(FX.get("targets")), CU = Fixtures.ints(FX.get("cu_seqlens"));

    private static double loss(Gpt g) {
        return g.trainingLoss(TOK, TGT, CU, FX.get("ws_short").asInt(), FX.get("ws_long").asInt(), TestSupport.LOSS, new double[] {1, 0.5}, 1);
    }

    private static Gpt fixtureModel(DType dtype) {
        Gpt g = new Gpt(CFG, Kernels.cpu(), dtype, TOK.length, 1, 0);
        Checkpoints.load(g, Fixtures.dir().resolve(FX.get("weights_file").asText()));
        return g;
    }

    @Test void saveThenLoadGivesTheSameLossBitForBit() throws Exception {
        for (DType dt : new DType[] {DType.F64, DType.F32}) {
            try (Gpt a = fixtureModel(dt); Gpt b = new Gpt(CFG, Kernels.cpu(), dt, TOK.length, 1, 99)) {
                Path f = dir.resolve("ck-" + dt + ".safetensors");
                Checkpoints.save(a, f, dt, Map.of("step", "12"));
                Checkpoints.load(b, f);
                assertEquals(Double.doubleToLongBits(loss(a)), Double.doubleToLongBits(loss(b)), dt + " round trip changed the loss");
                assertEquals(Map.of("step", "12"), Checkpoints.metadata(f));
                try (var files = Files.list(dir)) {
                    assertTrue(files.noneMatch(p -> p.toString().endsWith(".tmp")), "temporary file left behind");
                }
            }
        }
    }

    @Test void bf16RoundsToNearestEven() {
        try (Gpt a = fixtureModel(DType.F32); Gpt b = new Gpt(CFG, Kernels.cpu(), DType.F32, TOK.length, 1, 1)) {
            Path f = dir.resolve("bf16.safetensors");
            Checkpoints.save(a, f, DType.BF16, null);
            Checkpoints.load(b, f);
            for (Parameter p : a.parameters()) {
                float[] x = HostData.toFloats(p.value()), y = HostData.toFloats(b.get(p.name()).value());
                for (int i = 0; i < x.length; i++) assertEquals(BFloat16.round(x[i]), y[i], 0, p.name() + "[" + i + "]");
            }
        }
    }

    @Test void scalarsPaddingMayDiffer() {
        try (Gpt a = fixtureModel(DType.F64); Gpt b = new Gpt(CFG, Kernels.cpu(), DType.F64, TOK.length, 8, 1)) {
            Path f = dir.resolve("w1.safetensors");
            Checkpoints.save(a, f, DType.F64, null);
            Checkpoints.load(b, f);
            double[] sa = HostData.toDoubles(a.get("scalars").value()), sb = HostData.toDoubles(b.get("scalars").value());
            assertEquals(sa.length + Gpt.paddingFor(CFG, 8), sb.length);
            for (int i = 0; i < sb.length; i++) assertEquals(i < sa.length ? sa[i] : 1.0, sb[i], 0, "scalars[" + i + "]");
        }
    }

    @Test void missingUnknownAndMisshapedTensorsAreNamed() {
        GptConfig wider = GptConfig.withSizes(CFG.vocabSize(), CFG.numLayers(), CFG.numHeads() * 2, CFG.headDim(), CFG.modelDim() * 2,
                CFG.blockSize(), CFG.gateInputDims());
        GptConfig noAttnFree = new GptConfig(CFG.vocabSize(), CFG.numLayers(), CFG.numHeads(), CFG.headDim(), CFG.modelDim(), CFG.blockSize(),
                CFG.gateInputDims(), CFG.mlpHidden(), CFG.skipInLayer(), CFG.skipOutLayer(), CFG.backoutLayer(), -1, CFG.longWindowLayers(),
                CFG.valueEmbedMap(), CFG.numValueEmbeds(), CFG.ropeBase(), CFG.attnScale(), CFG.yarnAlpha(), CFG.yarnBeta(), CFG.softcap(), CFG.softcapDivisor(), CFG.qkvInitScale());
        try (Gpt a = fixtureModel(DType.F32); Gpt w = new Gpt(wider, Kernels.cpu(), DType.F32, 4, 1, 0);
             Gpt all = new Gpt(noAttnFree, Kernels.cpu(), DType.F32, 4, 1, 0)) {
            Path f = dir.resolve("a.safetensors");
            Checkpoints.save(a, f, DType.F32, null);
            var e1 = assertThrows(IllegalArgumentException.class, () -> Checkpoints.load(w, f));
            assertTrue(e1.getMessage().contains("smear_gate.weight") || e1.getMessage().contains("value_embeds.0.weight"), e1.getMessage());
            assertTrue(e1.getMessage().contains("shape"), e1.getMessage());
            var e2 = assertThrows(IllegalArgumentException.class, () -> Checkpoints.load(all, f));
            assertTrue(e2.getMessage().contains("blocks.6.attn.qkvo_w") && e2.getMessage().contains("missing"), e2.getMessage());
            Path g = dir.resolve("all.safetensors");
            Checkpoints.save(all, g, DType.F32, null);
            var e3 = assertThrows(IllegalArgumentException.class, () -> Checkpoints.load(a, g));
            assertTrue(e3.getMessage().contains("blocks.6.attn.qkvo_w") && e3.getMessage().contains("unknown"), e3.getMessage());
        }
    }
}
