package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.testsupport.TinyModelFixture;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The tiny fixture model's six results (spec §2, §4) in F64 and F32. */
class FixtureParityTest {
    @ParameterizedTest(name = "{0}")
    @CsvSource({"F64, 1e-9", "F32, 1e-4"})
    void reproducesFixture(DType dtype, double tol) {
        TinyModelFixture fx = TinyModelFixture.read();
        GptConfig cfg = TestSupport.config(fx.config());
        assertEquals(fx.vocabPadded(), cfg.vocabPadded(), "vocabulary padding");
        try (Gpt gpt = new Gpt(cfg, Kernels.cpu(), dtype, fx.tokens().length, 1, 0)) {
            Checkpoints.load(gpt, fx.weights());
            for (int[] u : fx.yarnUpdates()) gpt.yarn().apply(u[0], u[1]);
            assertEquals(fx.attnScale(), gpt.yarn().attnScale(), 1e-15);
            assertArrayEquals(fx.angularFreq(), gpt.yarn().angularFreq(), 1e-15);
            double worst = 0;
            for (TinyModelFixture.Result r : fx.results()) {
                gpt.setSplitEmbed(r.splitEmbed());
                double got = switch (r.mode()) {
                    case TRAIN_SUM -> gpt.forwardBackward(fx.tokens(), fx.targets(), fx.cuSeqlens(), fx.windowShort(), fx.windowLong(),
                            TestSupport.LOSS, r.mtpWeights(), 1.0);
                    case EVAL_MEAN -> gpt.evaluate(fx.tokens(), fx.targets(), fx.cuSeqlens(), fx.windowShort(), fx.windowLong(), TestSupport.LOSS);
                };
                double err = TestSupport.rel(got, r.loss());
                worst = Math.max(worst, err);
                assertTrue(err <= tol, r.mode() + " split=" + r.splitEmbed() + ": " + got + " vs " + r.loss() + " (rel " + err + ")");
                double[] want = r.logitsRow0First8();
                if (want.length > 0) {
                    double[] z = HostData.toDoubles(gpt.logits(fx.tokens().length).get(0).view(0, want.length));
                    for (int j = 0; j < want.length; j++) {
                        double l = cfg.softcap() / (1 + Math.exp(-z[j] / cfg.softcapDivisor()));
                        assertTrue(TestSupport.rel(l, want[j]) <= tol, "soft-capped logit " + j + ": " + l + " vs " + want[j]);
                    }
                }
            }
            System.out.printf("fixture parity %s: worst relative error %.3e%n", dtype, worst);
        }
    }
}
