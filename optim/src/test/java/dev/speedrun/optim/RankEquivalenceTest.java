package dev.speedrun.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.speedrun.tensor.DType;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * 1, 2, 4 and 8 ranks give the same parameters after 5 steps of the synthetic record-like model
 * (NorMuon every step, Adam on odd steps on two steps' gradients, the scalars optimizer frozen at
 * first, the embedding untied with lm_head's Adam state after step 1), and all ranks of a run hold
 * identical parameters.
 */
class RankEquivalenceTest {
    static final int STEPS = 5;

    @ParameterizedTest(name = "{0}")
    @CsvSource({"F64, 1e-9", "F32, 1e-5"})
    void sameParametersOnOneTwoFourAndEightRanks(DType dtype, double tol) {
        Map<String, double[]> ref = SyntheticRun.run(1, dtype, 0, STEPS, null, false).valuesByRank().get(0);
        for (int world : new int[] {2, 4, 8}) {
            long t0 = System.nanoTime();
            Map<Integer, Map<String, double[]>> got = SyntheticRun.run(world, dtype, 0, STEPS, null, false).valuesByRank();
            double worst = 0;
            String worstName = "";
            for (var e : ref.entrySet()) {
                double err = TestTables.relErr(got.get(0).get(e.getKey()), e.getValue());
                if (err > worst) { worst = err; worstName = e.getKey(); }
                for (int r = 1; r < world; r++)
                    assertArrayEquals(got.get(0).get(e.getKey()), got.get(r).get(e.getKey()),
                            e.getKey() + ": rank " + r + " differs from rank 0 at world " + world);
            }
            System.out.printf("rank equivalence %s world %d vs 1: worst relative error %.3e (%s), %.1f s%n", dtype, world, worst,
                    worstName, (System.nanoTime() - t0) * 1e-9);
            assertTrue(worst <= tol, dtype + " world " + world + ": " + worstName + " relative error " + worst + " > " + tol);
        }
    }
}
