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
 * panels: {@code ap[aOff + p·MR + r]} (MR rows of op(A), column p) and {@code bp[bOff + p·NR + j]}
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
            int ai = aOff + p * MR;
            FloatVector b0 = FloatVector.fromArray(FS, bp, bi);
            FloatVector b1 = FloatVector.fromArray(FS, bp, bi + FV);
            FloatVector a = FloatVector.broadcast(FS, ap[ai]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01);
            a = FloatVector.broadcast(FS, ap[ai + 1]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11);
            a = FloatVector.broadcast(FS, ap[ai + 2]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21);
            a = FloatVector.broadcast(FS, ap[ai + 3]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31);
            a = FloatVector.broadcast(FS, ap[ai + 4]);
            c40 = a.fma(b0, c40); c41 = a.fma(b1, c41);
            a = FloatVector.broadcast(FS, ap[ai + 5]);
            c50 = a.fma(b0, c50); c51 = a.fma(b1, c51);
        }
        if (mr == MR && nr == nrFull) {
            long ld = (long) ldc * Float.BYTES;
            long off = cIdx * Float.BYTES;
            storeF32(c, off, c00, c01, alpha, beta, overwrite); off += ld;
            storeF32(c, off, c10, c11, alpha, beta, overwrite); off += ld;
            storeF32(c, off, c20, c21, alpha, beta, overwrite); off += ld;
            storeF32(c, off, c30, c31, alpha, beta, overwrite); off += ld;
            storeF32(c, off, c40, c41, alpha, beta, overwrite); off += ld;
            storeF32(c, off, c50, c51, alpha, beta, overwrite);
        } else {
            // Edge tile: spill to the scratch tile and write the valid part element by element.
            c00.intoArray(tile, 0); c01.intoArray(tile, FV);
            c10.intoArray(tile, nrFull); c11.intoArray(tile, nrFull + FV);
            c20.intoArray(tile, 2 * nrFull); c21.intoArray(tile, 2 * nrFull + FV);
            c30.intoArray(tile, 3 * nrFull); c31.intoArray(tile, 3 * nrFull + FV);
            c40.intoArray(tile, 4 * nrFull); c41.intoArray(tile, 4 * nrFull + FV);
            c50.intoArray(tile, 5 * nrFull); c51.intoArray(tile, 5 * nrFull + FV);
            CpuGemm.writeTileF32(tile, nrFull, c, cIdx, ldc, mr, nr, alpha, beta, overwrite);
        }
    }

    private static void storeF32(MemorySegment c, long off, FloatVector x0, FloatVector x1,
                                 float alpha, float beta, boolean overwrite) {
        if (alpha != 1f) { x0 = x0.mul(alpha); x1 = x1.mul(alpha); }
        if (!overwrite) {
            FloatVector o0 = FloatVector.fromMemorySegment(FS, c, off, NATIVE);
            FloatVector o1 = FloatVector.fromMemorySegment(FS, c, off + (long) FV * Float.BYTES, NATIVE);
            if (beta == 1f) { x0 = x0.add(o0); x1 = x1.add(o1); }
            else { x0 = o0.mul(beta).add(x0); x1 = o1.mul(beta).add(x1); }
        }
        x0.intoMemorySegment(c, off, NATIVE);
        x1.intoMemorySegment(c, off + (long) FV * Float.BYTES, NATIVE);
    }

    /** Packs NR full columns of a row-major op(B) row run: {@code dst[d..d+NR) = src[s..s+NR)}. */
    static void copyRowF32(MemorySegment src, long srcIdx, float[] dst, int dstIdx) {
        long off = srcIdx * Float.BYTES;
        FloatVector.fromMemorySegment(FS, src, off, NATIVE).intoArray(dst, dstIdx);
        FloatVector.fromMemorySegment(FS, src, off + (long) FV * Float.BYTES, NATIVE).intoArray(dst, dstIdx + FV);
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
            int ai = aOff + p * MR;
            DoubleVector b0 = DoubleVector.fromArray(DS, bp, bi);
            DoubleVector b1 = DoubleVector.fromArray(DS, bp, bi + DV);
            DoubleVector a = DoubleVector.broadcast(DS, ap[ai]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01);
            a = DoubleVector.broadcast(DS, ap[ai + 1]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11);
            a = DoubleVector.broadcast(DS, ap[ai + 2]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21);
            a = DoubleVector.broadcast(DS, ap[ai + 3]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31);
            a = DoubleVector.broadcast(DS, ap[ai + 4]);
            c40 = a.fma(b0, c40); c41 = a.fma(b1, c41);
            a = DoubleVector.broadcast(DS, ap[ai + 5]);
            c50 = a.fma(b0, c50); c51 = a.fma(b1, c51);
        }
        if (mr == MR && nr == nrFull) {
            long ld = (long) ldc * Double.BYTES;
            long off = cIdx * Double.BYTES;
            storeF64(c, off, c00, c01, alpha, beta, overwrite); off += ld;
            storeF64(c, off, c10, c11, alpha, beta, overwrite); off += ld;
            storeF64(c, off, c20, c21, alpha, beta, overwrite); off += ld;
            storeF64(c, off, c30, c31, alpha, beta, overwrite); off += ld;
            storeF64(c, off, c40, c41, alpha, beta, overwrite); off += ld;
            storeF64(c, off, c50, c51, alpha, beta, overwrite);
        } else {
            c00.intoArray(tile, 0); c01.intoArray(tile, DV);
            c10.intoArray(tile, nrFull); c11.intoArray(tile, nrFull + DV);
            c20.intoArray(tile, 2 * nrFull); c21.intoArray(tile, 2 * nrFull + DV);
            c30.intoArray(tile, 3 * nrFull); c31.intoArray(tile, 3 * nrFull + DV);
            c40.intoArray(tile, 4 * nrFull); c41.intoArray(tile, 4 * nrFull + DV);
            c50.intoArray(tile, 5 * nrFull); c51.intoArray(tile, 5 * nrFull + DV);
            CpuGemm.writeTileF64(tile, nrFull, c, cIdx, ldc, mr, nr, alpha, beta, overwrite);
        }
    }

    private static void storeF64(MemorySegment c, long off, DoubleVector x0, DoubleVector x1,
                                 double alpha, double beta, boolean overwrite) {
        if (alpha != 1d) { x0 = x0.mul(alpha); x1 = x1.mul(alpha); }
        if (!overwrite) {
            DoubleVector o0 = DoubleVector.fromMemorySegment(DS, c, off, NATIVE);
            DoubleVector o1 = DoubleVector.fromMemorySegment(DS, c, off + (long) DV * Double.BYTES, NATIVE);
            if (beta == 1d) { x0 = x0.add(o0); x1 = x1.add(o1); }
            else { x0 = o0.mul(beta).add(x0); x1 = o1.mul(beta).add(x1); }
        }
        x0.intoMemorySegment(c, off, NATIVE);
        x1.intoMemorySegment(c, off + (long) DV * Double.BYTES, NATIVE);
    }

    static void copyRowF64(MemorySegment src, long srcIdx, double[] dst, int dstIdx) {
        long off = srcIdx * Double.BYTES;
        DoubleVector.fromMemorySegment(DS, src, off, NATIVE).intoArray(dst, dstIdx);
        DoubleVector.fromMemorySegment(DS, src, off + (long) DV * Double.BYTES, NATIVE).intoArray(dst, dstIdx + DV);
    }
}
