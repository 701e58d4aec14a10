package dev.speedrun.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Random;
import org.junit.jupiter.api.Test;

class BFloat16Test {
    /** Reference rounding: pick the nearer of the two neighbouring bf16 values, ties to even mantissa. */
    private static float referenceRound(float f) {
        int bits = Float.floatToRawIntBits(f);
        float down = Float.intBitsToFloat(bits & 0xffff0000);
        float up = Float.intBitsToFloat((bits & 0xffff0000) + 0x10000);
        // Past the largest finite value the next step is 2^128 in magnitude (IEEE overflow rule).
        double upValue = Float.isInfinite(up) ? Math.copySign(0x1p128, f) : up;
        double dd = Math.abs((double) f - down), du = Math.abs(upValue - f);
        if (dd < du) return down;
        if (du < dd) return up;
        return ((Float.floatToRawIntBits(down) >>> 16) & 1) == 0 ? down : up;
    }

    @Test void roundsToNearestEvenOnRandomFloats() {
        Random r = new Random(1);
        for (int i = 0; i < 200_000; i++) {
            float f = Float.intBitsToFloat(r.nextInt());
            if (!Float.isFinite(f)) continue;
            assertEquals(referenceRound(f), BFloat16.round(f), "rounding " + f);
        }
    }

    @Test void tiesGoToEven() {
        // 1 + 2^-8 lies exactly between 1 and 1 + 2^-7: the even neighbour is 1.
        assertEquals(1.0f, BFloat16.round(1.0f + 0x1p-8f));
        // 1 + 3·2^-8 lies between 1 + 2^-7 (odd) and 1 + 2^-6 (even).
        assertEquals(1.0f + 0x1p-6f, BFloat16.round(1.0f + 3 * 0x1p-8f));
    }

    @Test void specialValues() {
        assertTrue(Float.isNaN(BFloat16.round(Float.NaN)));
        assertEquals(Float.POSITIVE_INFINITY, BFloat16.round(Float.POSITIVE_INFINITY));
        assertEquals(Float.NEGATIVE_INFINITY, BFloat16.round(Float.NEGATIVE_INFINITY));
        assertEquals(Float.POSITIVE_INFINITY, BFloat16.round(Float.MAX_VALUE), "overflow rounds to infinity");
        assertEquals(-0.0f, BFloat16.round(-0.0f));
    }
}
