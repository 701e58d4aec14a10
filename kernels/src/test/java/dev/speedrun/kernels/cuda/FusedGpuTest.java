package dev.speedrun.kernels.cuda;

import org.junit.jupiter.api.Tag;

/**
 * {@link FusedEmuTest} on the GPU: the fused kernels bit for bit the unfused ones as nvcc compiled
 * both (its contraction of multiply-adds included), and within tolerance of the CPU's fused ops.
 * Skipped with the reason where there is no GPU; run with {@code ./mvnw -Pgpu -pl kernels -am test}.
 */
@Tag("gpu")
class FusedGpuTest extends FusedEmuTest {
    @Override GpuTestSupport open(long seed) { return GpuTestSupport.open(seed); }
}
