package dev.speedrun.kernels.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API micro-kernels of {@link CpuGemm}. Loaded only when {@code jdk.incubator.vector} is
 * present (the JVM runs with {@code --add-modules jdk.incubator.vector}); {@link CpuGemm} falls back
 * to its scalar kernels otherwise.
 *
 * <p>Each kernel computes one {@link #MR}×NR tile of {@code C = alpha·Ap·Bp + beta·C} from packed
 * panels: {@code ap[aOff + r·kc + p]} (MR rows of op(A), row-major) and {@code bp[bOff + p·NR + j]}
 * (NR columns of op(B), row p), NR = two vectors of the preferred species. The 6×2-vector tile
 * keeps 12 accumulators, 2 B vectors and 1 broadcast A value in registers (15 of 16 on AVX2).
 */
final class GemmVector {
    private GemmVector() {}

    static final int MR = 6;
    static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;
    static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
    static final int FV = FS.length();
    static final int DV = DS.length();
    /** Tile widths (columns of C per micro-kernel call). */
    static final int NR_F32 = 2 * FV;
    static final int NR_F64 = 2 * DV;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    /** Touches the classes so that a missing module fails here, where CpuGemm catches it. */
    static String describe() { return FS + ", " + DS; }

    // ------------------------------------------------------------------ F32

    /**
     * One tile of F32 C. {@code c} is C's segment, {@code cIdx} the element index of the tile's
     * top-left corner, {@code ldc} the row stride in elements; {@code mr ≤ MR}, {@code nr ≤ NR}
     * the valid part of the tile. {@code overwrite}: C's old values are not read (beta = 0).
     */
    static void kernelF32(int kc, float[] ap, int aOff, float[] bp, int bOff,
                          MemorySegment c, long cIdx, int ldc, int mr, int nr,
                          float alpha, float beta, boolean overwrite, float[] tile) {
        FloatVector c00 = FloatVector.zero(FS), c01 = FloatVector.zero(FS);
        FloatVector c10 = FloatVector.zero(FS), c11 = FloatVector.zero(FS);
        FloatVector c20 = FloatVector.zero(FS), c21 = FloatVector.zero(FS);
        FloatVector c30 = FloatVector.zero(FS), c31 = FloatVector.zero(FS);
        FloatVector c40 = FloatVector.zero(FS), c41 = FloatVector.zero(FS);
        FloatVector c50 = FloatVector.zero(FS), c51 = FloatVector.zero(FS);
        final int nrFull = NR_F32;
        for (int p = 0; p < kc; p++) {
            int bi = bOff + p * nrFull;
            int ai = aOff + p;
            FloatVector b0 = FloatVector.fromArray(FS, bp, bi);
            FloatVector b1 = FloatVector.fromArray(FS, bp, bi + FV);
            FloatVector a = FloatVector.broadcast(FS, ap[ai]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01);
            a = FloatVector.broadcast(FS, ap[ai + 1 * kc]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11);
            a = FloatVector.broadcast(FS, ap[ai + 2 * kc]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21);
            a = FloatVector.broadcast(FS, ap[ai + 3 * kc]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31);
            a = FloatVector.broadcast(FS, ap[ai + 4 * kc]);
            c40 = a.fma(b0, c40); c41 = a.fma(b1, c41);
            a = FloatVector.broadcast(FS, ap[ai + 5 * kc]);
            c50 = a.fma(b0, c50); c51 = a.fma(b1, c51);
        }
        // Spill the accumulators to the tile, so that no vector crosses a method boundary (a
        // non-inlined call would box it), then update C from the tile.
        c00.intoArray(tile, 0); c01.intoArray(tile, FV);
        c10.intoArray(tile, nrFull); c11.intoArray(tile, nrFull + FV);
        c20.intoArray(tile, 2 * nrFull); c21.intoArray(tile, 2 * nrFull + FV);
        c30.intoArray(tile, 3 * nrFull); c31.intoArray(tile, 3 * nrFull + FV);
        c40.intoArray(tile, 4 * nrFull); c41.intoArray(tile, 4 * nrFull + FV);
        c50.intoArray(tile, 5 * nrFull); c51.intoArray(tile, 5 * nrFull + FV);
        updateF32(tile, c, cIdx, ldc, mr, nr, alpha, beta, overwrite);
    }

    /** {@code C[tile rows, cols] = alpha·tile + beta·C} for the valid {@code mr×nr} part of the tile. */
    static void updateF32(float[] tile, MemorySegment c, long cIdx, int ldc, int mr, int nr,
                          float alpha, float beta, boolean overwrite) {
        final int nrFull = NR_F32;
        if (mr != MR || nr != nrFull) {
            CpuGemm.writeTileF32(tile, nrFull, c, cIdx, ldc, mr, nr, alpha, beta, overwrite);
            return;
        }
        for (int r = 0; r < MR; r++) {
            long off = (cIdx + (long) r * ldc) * Float.BYTES;
            for (int v = 0; v < nrFull; v += FV) {
                FloatVector x = FloatVector.fromArray(FS, tile, r * nrFull + v);
                if (alpha != 1f) x = x.mul(alpha);
                long o = off + (long) v * Float.BYTES;
                if (!overwrite) {
                    FloatVector old = FloatVector.fromMemorySegment(FS, c, o, NATIVE);
                    x = beta == 1f ? x.add(old) : x.add(old.mul(beta));
                }
                x.intoMemorySegment(c, o, NATIVE);
            }
        }
    }

    // ------------------------------------------------------------------ F64

    /** One tile of F64 C; arguments as in {@link #kernelF32}. */
    static void kernelF64(int kc, double[] ap, int aOff, double[] bp, int bOff,
                          MemorySegment c, long cIdx, int ldc, int mr, int nr,
                          double alpha, double beta, boolean overwrite, double[] tile) {
        DoubleVector c00 = DoubleVector.zero(DS), c01 = DoubleVector.zero(DS);
        DoubleVector c10 = DoubleVector.zero(DS), c11 = DoubleVector.zero(DS);
        DoubleVector c20 = DoubleVector.zero(DS), c21 = DoubleVector.zero(DS);
        DoubleVector c30 = DoubleVector.zero(DS), c31 = DoubleVector.zero(DS);
        DoubleVector c40 = DoubleVector.zero(DS), c41 = DoubleVector.zero(DS);
        DoubleVector c50 = DoubleVector.zero(DS), c51 = DoubleVector.zero(DS);
        final int nrFull = NR_F64;
        for (int p = 0; p < kc; p++) {
            int bi = bOff + p * nrFull;
            int ai = aOff + p;
            DoubleVector b0 = DoubleVector.fromArray(DS, bp, bi);
            DoubleVector b1 = DoubleVector.fromArray(DS, bp, bi + DV);
            DoubleVector a = DoubleVector.broadcast(DS, ap[ai]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01);
            a = DoubleVector.broadcast(DS, ap[ai + 1 * kc]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11);
            a = DoubleVector.broadcast(DS, ap[ai + 2 * kc]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21);
            a = DoubleVector.broadcast(DS, ap[ai + 3 * kc]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31);
            a = DoubleVector.broadcast(DS, ap[ai + 4 * kc]);
            c40 = a.fma(b0, c40); c41 = a.fma(b1, c41);
            a = DoubleVector.broadcast(DS, ap[ai + 5 * kc]);
            c50 = a.fma(b0, c50); c51 = a.fma(b1, c51);
        }
        // Spill the accumulators to the tile, so that no vector crosses a method boundary (a
        // non-inlined call would box it), then update C from the tile.
        c00.intoArray(tile, 0); c01.intoArray(tile, DV);
        c10.intoArray(tile, nrFull); c11.intoArray(tile, nrFull + DV);
        c20.intoArray(tile, 2 * nrFull); c21.intoArray(tile, 2 * nrFull + DV);
        c30.intoArray(tile, 3 * nrFull); c31.intoArray(tile, 3 * nrFull + DV);
        c40.intoArray(tile, 4 * nrFull); c41.intoArray(tile, 4 * nrFull + DV);
        c50.intoArray(tile, 5 * nrFull); c51.intoArray(tile, 5 * nrFull + DV);
        updateF64(tile, c, cIdx, ldc, mr, nr, alpha, beta, overwrite);
    }

    /** {@code C[tile rows, cols] = alpha·tile + beta·C} for the valid {@code mr×nr} part of the tile. */
    static void updateF64(double[] tile, MemorySegment c, long cIdx, int ldc, int mr, int nr,
                          double alpha, double beta, boolean overwrite) {
        final int nrFull = NR_F64;
        if (mr != MR || nr != nrFull) {
            CpuGemm.writeTileF64(tile, nrFull, c, cIdx, ldc, mr, nr, alpha, beta, overwrite);
            return;
        }
        for (int r = 0; r < MR; r++) {
            long off = (cIdx + (long) r * ldc) * Double.BYTES;
            for (int v = 0; v < nrFull; v += DV) {
                DoubleVector x = DoubleVector.fromArray(DS, tile, r * nrFull + v);
                if (alpha != 1d) x = x.mul(alpha);
                long o = off + (long) v * Double.BYTES;
                if (!overwrite) {
                    DoubleVector old = DoubleVector.fromMemorySegment(DS, c, o, NATIVE);
                    x = beta == 1d ? x.add(old) : x.add(old.mul(beta));
                }
                x.intoMemorySegment(c, o, NATIVE);
            }
        }
    }
}
