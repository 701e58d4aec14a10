package dev.speedrun.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.tensor.DType;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Exported state (both Adam moments and step counts, NorMuon buffers and second moments, gathered
 * from the shards) restores a run: resuming on the same world size is bit-exact, resuming on
 * another world size matches within rounding. A checkpoint is taken after an odd step: after an even
 * step Adam's half-accumulated gradients are pending and are not part of the optimizer state.
 */
class StateRoundTripTest {
    /** Saved after step 3 (odd: Adam just stepped, no Adam gradient is pending), resumed for two more. */
    static final int SAVE_AT = 4, STEPS = 6;

    @Test
    void saveAfterThreeStepsAndResume() {
        DType d = DType.F64;
        Map<String, double[]> straight = SyntheticRun.run(2, d, 0, STEPS, null, false).valuesByRank().get(0);
        SyntheticRun.Snapshot snap = SyntheticRun.run(2, d, 0, SAVE_AT, null, true).snapshot();

        // the snapshot holds what the optimizers did: Adam stepped at 1 and 3 for lm_head; embed
        // took lm_head's count (1) after step 1 and stepped at 3; the scalars were frozen at step 1
        assertEquals(2L, snap.steps().get("lm_head.weight"));
        assertEquals(2L, snap.steps().get("embed.weight"));
        assertEquals(1L, snap.steps().get("scalars"));
        assertEquals(0L, snap.steps().get("blocks.0.attn.qkvo_w"));
        double[] buf = snap.states().get("blocks.1.mlp.c_fc").get(NorMuon.MOMENTUM_BUFFER).data();
        assertTrue(java.util.Arrays.stream(buf).anyMatch(x -> x != 0), "NorMuon momentum buffer exported empty");
        assertEquals(4, snap.states().get("blocks.0.attn.qkvo_w").get(NorMuon.SECOND_MOMENTUM).dims()[0],
                "attn second moments are per square block");

        Map<String, double[]> sameWorld = SyntheticRun.run(2, d, SAVE_AT, STEPS, snap, false).valuesByRank().get(0);
        for (var e : straight.entrySet())
            assertArrayEquals(e.getValue(), sameWorld.get(e.getKey()), e.getKey() + ": resume on 2 ranks is not exact");

        Map<String, double[]> otherWorld = SyntheticRun.run(4, d, SAVE_AT, STEPS, snap, false).valuesByRank().get(0);
        for (var e : straight.entrySet()) {
            double err = TestTables.relErr(otherWorld.get(e.getKey()), e.getValue());
            assertTrue(err <= 1e-9, e.getKey() + ": resume on 4 ranks, relative error " + err);
        }
    }
}
