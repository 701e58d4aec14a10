package dev.speedrun.kernels.cpu;

import dev.speedrun.kernels.OpContract;
import dev.speedrun.tensor.BFloat16;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Fast CPU GEMM behind {@code Ops.matmul}: {@code out = alpha·op(a)·op(b) + beta·out}.
 *
 * <p>Design (after BLIS/GotoBLAS): the K dimension is cut into passes of ≤ KC, the N dimension into
 * panels of ≤ NC and the M dimension into blocks of ≤ MC; for each (panel, pass) a KC×NC block of
 * op(B) is packed into NR-wide column strips, for each M block an MC×KC block of op(A) into MR-high
 * row strips, and a register-blocked MR×NR micro-kernel (Vector API FMAs, see {@link GemmVector})
 * runs over the strips. Packing reads a and b through their transposes directly, so no transposed
 * copy is ever made. Pack buffers live in a per-thread context and are reused across calls.
 * Large problems are cut into independent (batch, M range, N range) items run on a fixed pool of
 * daemon threads ({@link GemmPool}); small ones run on the caller's thread.
 *
 * <p>Paths: Vector API micro-kernels when {@code jdk.incubator.vector} is present, otherwise (or
 * with {@code -Dspeedrun.gemm.scalar=true}) scalar micro-kernels over the same packing. Threads:
 * {@code -Dspeedrun.gemm.threads=N} (default: available processors).
 */
public final class CpuGemm {
    private CpuGemm() {}

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ValueLayout.OfShort S = ValueLayout.JAVA_SHORT_UNALIGNED;

    /** Why the Vector API path is off (empty when it is on). */
    private static final String VECTOR_UNAVAILABLE = probeVector();
    private static final boolean FORCE_SCALAR = Boolean.getBoolean("speedrun.gemm.scalar");
    private static final int THREADS = Math.max(1, Integer.getInteger("speedrun.gemm.threads",
            Runtime.getRuntime().availableProcessors()));
    /** Below this many multiply-adds a GEMM runs on the caller's thread (waking workers costs ~10-50 µs). */
    private static final long PARALLEL_MIN_MACS = Long.getLong("speedrun.gemm.parallelMinMacs", 1L << 20);

    /** Micro-kernel MR (even: the scalar kernel works on row pairs); shared by both paths so packing is identical. */
    static final int MR = 6;
    private static final int KC = 256;
    private static final int MC_F32 = 144, MC_F64 = 72;
    private static final int NC_TARGET = 4096;
    /** Tile widths of the scalar path (multiples of 4; the vector path uses two vectors of the preferred species). */
    private static final int SCALAR_NR_F32 = 16, SCALAR_NR_F64 = 8;

    private static final ThreadLocal<Context> CONTEXT = ThreadLocal.withInitial(Context::new);

    private static String probeVector() {
        try {
            GemmVector.describe();
            return "";
        } catch (Throwable t) { // NoClassDefFoundError when the incubator module is not added
            return t.toString();
        }
    }

    /** Whether the default path uses the Vector API (false when unavailable or forced scalar). */
    public static boolean vectorized() { return VECTOR_UNAVAILABLE.isEmpty() && !FORCE_SCALAR; }

    /** One line describing the path and threads, for benchmark output. */
    public static String describe() {
        String path = vectorized() ? "vector " + GemmVector.describe()
                : "scalar (" + (FORCE_SCALAR ? "-Dspeedrun.gemm.scalar=true" : "Vector API unavailable: " + VECTOR_UNAVAILABLE) + ")";
        return path + ", " + THREADS + " thread(s)";
    }

    /**
     * {@code out = alpha · op(a) · op(b) + beta · out}, op = transpose when the flag is set; the
     * semantics of {@code Ops.matmul}.
     * @param out [M,N], or [B,M,N] (strided batch)
     * @param a   [M,K] ([K,M] if transA), or with a leading B
     * @param b   [K,N] ([N,K] if transB), or with a leading B
     * @param beta 0 overwrites out (its old contents, even NaN, are never read)
     */
    public static void matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta) {
        matmul(out, a, b, transA, transB, alpha, beta, !vectorized());
    }

    /** As {@link #matmul(Tensor, Tensor, Tensor, boolean, boolean, double, double)}, choosing the path (tests). */
    static void matmul(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB, double alpha, double beta,
                       boolean scalar) {
        Job job = prepare(out, a, b, transA, transB, alpha, beta, scalar || !VECTOR_UNAVAILABLE.isEmpty());
        if (job == null) return;
        run(job, out, beta);
    }

    /**
     * {@code Ops.matmulFp8}: a and b quantised per tensor ({@code fp8(x / scale)}, {@link Fp8}) into
     * F32 copies holding the exact FP8 values in their own layouts, then the F32 GEMM over them with
     * {@code alpha = aScale·bScale} (the product in F32, as cuBLASLt's epilogue) and F32
     * accumulation; a BF16 out is rounded once. The same products as cuBLASLt's FP8 GEMM.
     * @param out [M,N] F32 or BF16; a [M,K] ([K,M] if transA), b [K,N] ([N,K] if transB), floating
     */
    public static void matmulFp8(Tensor out, Tensor a, DType aFormat, Tensor aScale, Tensor b, DType bFormat, Tensor bScale,
                                 boolean transA, boolean transB, double beta) {
        OpContract.matmulFp8(out, a, aFormat, aScale, b, bFormat, bScale, transA, transB);
        float sa = aScale.segment().get(F, 0), sb = bScale.segment().get(F, 0);
        if (out.dtype() != DType.F32 && out.dtype() != DType.BF16)
            throw new IllegalArgumentException("matmulFp8: out must be F32 or BF16 on the CPU (as an FP8 GEMM writes), got " + out.dtype());
        OpContract.Matmul shape = OpContract.matmul(out, a, b, transA, transB);
        if (shape.m() == 0 || shape.n() == 0) return;
        MemorySegment qa = MemorySegment.ofArray(quantized(Scratch.floats(0, Math.toIntExact(a.numel())), a, aFormat, sa));
        MemorySegment qb = MemorySegment.ofArray(quantized(Scratch.floats(1, Math.toIntExact(b.numel())), b, bFormat, sb));
        Job job = setUp(CONTEXT.get().job, false, qa, false, qb, false, out.segment(), shape, transA, transB, sa * sb, beta,
                !vectorized());
        run(job, out, beta);
    }

    /** {@code into[i] = decode(fp8(x[i] / s))} for every element of x, in x's layout. */
    private static float[] quantized(float[] into, Tensor x, DType format, float s) {
        MemorySegment xs = x.segment();
        DType xd = x.dtype();
        for (int i = 0, n = Math.toIntExact(x.numel()); i < n; i++) into[i] = Fp8.decode(Fp8.quantize(Acc.get(xs, xd, i), s, format), format);
        return into;
    }

    /** Runs a prepared job, staging a BF16 out in F32. */
    private static void run(Job job, Tensor out, double beta) {
        MemorySegment bf16Out = null;
        if (out.dtype() == DType.BF16) {
            // BF16 out: accumulate into an F32 copy (holding the old values when beta ≠ 0), then round
            // once to BF16 (RNE), as a GPU GEMM with BF16 D and F32 compute does.
            bf16Out = job.c;
            int numel = Math.toIntExact(out.numel());
            float[] staged = CONTEXT.get().stageF(numel);
            if (beta != 0) for (int i = 0; i < numel; i++) staged[i] = BFloat16.toFloat(bf16Out.getAtIndex(S, i));
            job.c = MemorySegment.ofArray(staged);
        }
        runJob(job);
        if (bf16Out != null) {
            MemorySegment st = job.c;
            for (long i = 0, numel = out.numel(); i < numel; i++) bf16Out.setAtIndex(S, i, BFloat16.fromFloat(st.getAtIndex(F, i)));
        }
    }

    private static void runJob(Job job) {
        long macs = (long) job.batches * job.m * job.n * Math.max(1, job.k);
        if (THREADS > 1 && macs >= PARALLEL_MIN_MACS) {
            job.split(THREADS);
            if (Pool.POOL.tryRun(job, job.items())) return;
        }
        job.split(1);
        for (int i = 0, n = job.items(); i < n; i++) job.run(i);
    }

    private static final class Pool {
        static final GemmPool POOL = new GemmPool(THREADS);
    }

    // ------------------------------------------------------------------ validation

    private static Job prepare(Tensor out, Tensor a, Tensor b, boolean transA, boolean transB,
                               double alpha, double beta, boolean scalar) {
        DType dt = out.dtype();
        // F64: all three F64. F32 path: each of out, a, b F32 or BF16 (BF16 inputs are widened while
        // packing, BF16 out is staged in F32 by the caller); accumulation is F32 like a GPU GEMM.
        boolean f64 = dt == DType.F64;
        if (f64 ? a.dtype() != DType.F64 || b.dtype() != DType.F64 : !f32Like(dt) || !f32Like(a.dtype()) || !f32Like(b.dtype()))
            throw new IllegalArgumentException(OpContract.matmulCall(out, a, b, transA, transB)
                    + ": CPU GEMM takes F64 × F64 → F64, or F32/BF16 inputs into F32/BF16 out");
        OpContract.Matmul shape = OpContract.matmul(out, a, b, transA, transB);
        if (shape.batch() == 0 || shape.m() == 0 || shape.n() == 0) return null;
        // the job is reused: the caller's thread runs one GEMM at a time
        return setUp(CONTEXT.get().job, f64, a.segment(), a.dtype() == DType.BF16, b.segment(), b.dtype() == DType.BF16,
                out.segment(), shape, transA, transB, alpha, beta, scalar);
    }

    /** Fills the job for segments a, b (F32, BF16 where flagged, or F64) and c of the given sizes. */
    private static Job setUp(Job job, boolean f64, MemorySegment a, boolean aBf16, MemorySegment b, boolean bBf16, MemorySegment c,
                             OpContract.Matmul shape, boolean transA, boolean transB, double alpha, double beta, boolean scalar) {
        int batches = Math.toIntExact(shape.batch()), m = Math.toIntExact(shape.m()), n = Math.toIntExact(shape.n()),
                k = Math.toIntExact(shape.k());
        job.f64 = f64;
        job.aBf16 = aBf16;
        job.bBf16 = bBf16;
        job.scalar = scalar;
        job.a = a; job.b = b; job.c = c;
        job.batches = batches; job.m = m; job.n = n; job.k = k;
        job.transA = transA; job.transB = transB;
        job.alpha = alpha; job.beta = beta;
        job.mr = MR;
        job.nr = job.f64 ? (scalar ? SCALAR_NR_F64 : GemmVector.NR_F64) : (scalar ? SCALAR_NR_F32 : GemmVector.NR_F32);
        job.mc = job.f64 ? MC_F64 : MC_F32;
        job.nc = Math.max(job.nr, NC_TARGET / job.nr * job.nr);
        return job;
    }

    private static boolean f32Like(DType d) { return d == DType.F32 || d == DType.BF16; }


    // ------------------------------------------------------------------ job and threading

    /** Per-thread pack buffers and edge-tile scratch, grown on demand and then reused. */
    private static final class Context {
        float[] apF = new float[0], bpF = new float[0], tileF = new float[0], rowF = new float[0];
        double[] apD = new double[0], bpD = new double[0], tileD = new double[0], rowD = new double[0];
        float[] stageF = new float[0];
        final Job job = new Job();

        float[] stageF(int n) { return stageF.length >= n ? stageF : (stageF = new float[n]); }

        float[] apF(int n) { return apF.length >= n ? apF : (apF = new float[n]); }
        float[] bpF(int n) { return bpF.length >= n ? bpF : (bpF = new float[n]); }
        float[] tileF(int n) { return tileF.length >= n ? tileF : (tileF = new float[n]); }
        double[] apD(int n) { return apD.length >= n ? apD : (apD = new double[n]); }
        double[] bpD(int n) { return bpD.length >= n ? bpD : (bpD = new double[n]); }
        float[] rowF(int n) { return rowF.length >= n ? rowF : (rowF = new float[n]); }
        double[] rowD(int n) { return rowD.length >= n ? rowD : (rowD = new double[n]); }
        double[] tileD(int n) { return tileD.length >= n ? tileD : (tileD = new double[n]); }
    }

    /** One GEMM call, cut into items (batch, M chunk, N chunk) that touch disjoint parts of out. */
    private static final class Job implements GemmPool.Job {
        MemorySegment a, b, c;
        boolean f64, scalar, transA, transB, aBf16, bBf16;
        int batches, m, n, k;
        double alpha, beta;
        int mr, nr, mc, nc;
        int mChunks, nChunks, mStep, nStep;

        /**
         * Chooses how to cut the work into items for {@code threads} threads. Large problems get two
         * items per thread, so that a thread slowed by other load on the machine is helped by the
         * others. Within a matrix the cut is along N (each item then packs all of A for its
         * columns, a plain copy) unless M is much larger than N, or N has too few tiles (then
         * along M, each item packing all of B, which costs a transposing scatter).
         */
        void split(int threads) {
            long macs = (long) batches * m * n * Math.max(1, k);
            int target = threads <= 1 ? 1 : macs >= 64L * PARALLEL_MIN_MACS ? 2 * threads : threads;
            int perMatrix = Math.max(1, ceilDiv(target, batches));
            if (threads > 1 && perMatrix == 1 && batches % threads != 0) perMatrix = threads;
            int mTiles = ceilDiv(m, mr), nTiles = ceilDiv(n, nr);
            int mParts = 1, nParts = 1;
            if (perMatrix > 1) {
                boolean alongN = nTiles >= perMatrix && (mTiles < perMatrix || m <= 2L * n);
                if (alongN) nParts = perMatrix;
                else mParts = Math.min(perMatrix, mTiles);
            }
            mStep = ceilDiv(mTiles, mParts) * mr;
            nStep = ceilDiv(nTiles, nParts) * nr;
            mChunks = ceilDiv(m, mStep);
            nChunks = ceilDiv(n, nStep);
        }

        int items() { return batches * mChunks * nChunks; }

        @Override public void run(int item) {
            int nChunk = item % nChunks;
            int rest = item / nChunks;
            int mChunk = rest % mChunks;
            int batch = rest / mChunks;
            int m0 = mChunk * mStep, m1 = Math.min(m, m0 + mStep);
            int n0 = nChunk * nStep, n1 = Math.min(n, n0 + nStep);
            Context ctx = CONTEXT.get();
            if (f64) blockedF64(ctx, batch, m0, m1, n0, n1);
            else blockedF32(ctx, batch, m0, m1, n0, n1);
        }

        // -------------------------------------------------------------- F32 driver

        private void blockedF32(Context ctx, int batch, int m0, int m1, int n0, int n1) {
            long aBase = (long) batch * m * k, bBase = (long) batch * k * n, cBase = (long) batch * m * n;
            float al = (float) alpha, be = (float) beta;
            if (k == 0) { scaleF32(cBase, m0, m1, n0, n1, be); return; }
            int kcStep = evenStep(k, KC, 1), mcStep = evenStep(m1 - m0, mc, mr), ncStep = evenStep(n1 - n0, nc, nr);
            float[] ap = ctx.apF(mcStep * kcStep);
            float[] bp = ctx.bpF(roundUp(ncStep, nr) * kcStep);
            float[] tile = ctx.tileF(mr * nr);
            float[] row = ctx.rowF(Math.max(kcStep, Math.max(mcStep, ncStep)));
            for (int jc = n0; jc < n1; jc += ncStep) {
                int ncur = Math.min(ncStep, n1 - jc);
                for (int pc = 0; pc < k; pc += kcStep) {
                    int kc = Math.min(kcStep, k - pc);
                    packBF32(bp, row, bBase, pc, kc, jc, ncur);
                    boolean overwrite = pc == 0 && beta == 0;
                    float bEff = pc == 0 ? be : 1f;
                    for (int ic = m0; ic < m1; ic += mcStep) {
                        int mcur = Math.min(mcStep, m1 - ic);
                        packAF32(ap, row, aBase, ic, mcur, pc, kc);
                        for (int jr = 0; jr < ncur; jr += nr) {
                            int nrc = Math.min(nr, ncur - jr);
                            for (int ir = 0; ir < mcur; ir += mr) {
                                int mrc = Math.min(mr, mcur - ir);
                                long cIdx = cBase + (long) (ic + ir) * n + jc + jr;
                                if (scalar) kernelScalarF32(kc, ap, ir * kc, bp, jr * kc, c, cIdx, mrc, nrc, al, bEff, overwrite, tile);
                                else GemmVector.kernelF32(kc, ap, ir * kc, bp, jr * kc, c, cIdx, n, mrc, nrc, al, bEff, overwrite, tile);
                            }
                        }
                    }
                }
            }
        }

        /**
         * Packs op(A)[ic..ic+mc, pc..pc+kc] row-major: {@code ap[i·kc + p]}, rows padded with zeros to
         * a multiple of MR (so the strip of rows ir..ir+MR starts at {@code ir·kc}). Without
         * transpose this is one bulk copy per row; with it, each contiguous column run of a is
         * bulk-copied into {@code row} (one bounds/liveness check per run) and scattered.
         */
        private void packAF32(float[] ap, float[] row, long aBase, int ic, int mcur, int pc, int kc) {
            if (!transA) { // a [M,K]: row i of op(A) is contiguous along p
                for (int i = 0; i < mcur; i++)
                    loadF(a, aBf16, aBase + (long) (ic + i) * k + pc, ap, i * kc, kc);
            } else { // a [K,M]: column p of op(A) is contiguous along i
                for (int p = 0; p < kc; p++) {
                    loadF(a, aBf16, aBase + (long) (pc + p) * m + ic, row, 0, mcur);
                    for (int i = 0; i < mcur; i++) ap[i * kc + p] = row[i];
                }
            }
            int padded = roundUp(mcur, mr);
            if (padded > mcur) java.util.Arrays.fill(ap, mcur * kc, padded * kc, 0f);
        }

        /** Packs op(B)[pc..pc+kc, jc..jc+nc] into NR-wide strips: {@code bp[jr·kc + p·NR + j]}, zero-padded. */
        private void packBF32(float[] bp, float[] row, long bBase, int pc, int kc, int jc, int ncur) {
            if (!transB) { // b [K,N]: row p of op(B) is contiguous along j
                for (int p = 0; p < kc; p++) {
                    loadF(b, bBf16, bBase + (long) (pc + p) * n + jc, row, 0, ncur);
                    for (int jr = 0; jr < ncur; jr += nr)
                        System.arraycopy(row, jr, bp, jr * kc + p * nr, Math.min(nr, ncur - jr));
                }
            } else { // b [N,K]: column j of op(B) is contiguous along p
                for (int j = 0; j < ncur; j++) {
                    loadF(b, bBf16, bBase + (long) (jc + j) * k + pc, row, 0, kc);
                    int dst = (j - j % nr) * kc + j % nr;
                    for (int p = 0; p < kc; p++) bp[dst + p * nr] = row[p];
                }
            }
            int tail = ncur % nr;
            if (tail != 0) {
                int base = (ncur - tail) * kc;
                for (int p = 0; p < kc; p++) for (int j = tail; j < nr; j++) bp[base + p * nr + j] = 0f;
            }
        }

        /** Copies {@code len} elements from element index {@code idx} of an F32 or BF16 segment, widening BF16. */
        private static void loadF(MemorySegment s, boolean bf16, long idx, float[] dst, int off, int len) {
            if (!bf16) { MemorySegment.copy(s, F, idx * F.byteSize(), dst, off, len); return; }
            for (int i = 0; i < len; i++) dst[off + i] = Float.intBitsToFloat((s.getAtIndex(S, idx + i) & 0xffff) << 16);
        }

        private void kernelScalarF32(int kc, float[] ap, int aOff, float[] bp, int bOff, MemorySegment c, long cIdx,
                                     int mrc, int nrc, float al, float be, boolean overwrite, float[] tile) {
            // 2×4 register blocks, K innermost: 6 loads feed 8 multiply-adds held in locals.
            for (int r = 0; r < mr; r += 2) {
                int a0 = aOff + r * kc, a1 = a0 + kc;
                for (int j = 0; j < nr; j += 4) {
                    float c00 = 0f, c01 = 0f, c02 = 0f, c03 = 0f, c10 = 0f, c11 = 0f, c12 = 0f, c13 = 0f;
                    for (int p = 0, bi = bOff + j; p < kc; p++, bi += nr) {
                        float x0 = ap[a0 + p], x1 = ap[a1 + p];
                        float y0 = bp[bi], y1 = bp[bi + 1], y2 = bp[bi + 2], y3 = bp[bi + 3];
                        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
                        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
                    }
                    int t = r * nr + j;
                    tile[t] = c00; tile[t + 1] = c01; tile[t + 2] = c02; tile[t + 3] = c03;
                    tile[t + nr] = c10; tile[t + nr + 1] = c11; tile[t + nr + 2] = c12; tile[t + nr + 3] = c13;
                }
            }
            writeTileF32(tile, nr, c, cIdx, n, mrc, nrc, al, be, overwrite);
        }

        private void scaleF32(long cBase, int m0, int m1, int n0, int n1, float be) {
            for (int i = m0; i < m1; i++)
                for (int j = n0; j < n1; j++) {
                    long idx = cBase + (long) i * n + j;
                    c.setAtIndex(F, idx, beta == 0 ? 0f : be * c.getAtIndex(F, idx));
                }
        }

        // -------------------------------------------------------------- F64 driver (mirror of F32)

        private void blockedF64(Context ctx, int batch, int m0, int m1, int n0, int n1) {
            long aBase = (long) batch * m * k, bBase = (long) batch * k * n, cBase = (long) batch * m * n;
            if (k == 0) { scaleF64(cBase, m0, m1, n0, n1); return; }
            int kcStep = evenStep(k, KC, 1), mcStep = evenStep(m1 - m0, mc, mr), ncStep = evenStep(n1 - n0, nc, nr);
            double[] ap = ctx.apD(mcStep * kcStep);
            double[] bp = ctx.bpD(roundUp(ncStep, nr) * kcStep);
            double[] tile = ctx.tileD(mr * nr);
            double[] row = ctx.rowD(Math.max(kcStep, Math.max(mcStep, ncStep)));
            for (int jc = n0; jc < n1; jc += ncStep) {
                int ncur = Math.min(ncStep, n1 - jc);
                for (int pc = 0; pc < k; pc += kcStep) {
                    int kc = Math.min(kcStep, k - pc);
                    packBF64(bp, row, bBase, pc, kc, jc, ncur);
                    boolean overwrite = pc == 0 && beta == 0;
                    double bEff = pc == 0 ? beta : 1d;
                    for (int ic = m0; ic < m1; ic += mcStep) {
                        int mcur = Math.min(mcStep, m1 - ic);
                        packAF64(ap, row, aBase, ic, mcur, pc, kc);
                        for (int jr = 0; jr < ncur; jr += nr) {
                            int nrc = Math.min(nr, ncur - jr);
                            for (int ir = 0; ir < mcur; ir += mr) {
                                int mrc = Math.min(mr, mcur - ir);
                                long cIdx = cBase + (long) (ic + ir) * n + jc + jr;
                                if (scalar) kernelScalarF64(kc, ap, ir * kc, bp, jr * kc, c, cIdx, mrc, nrc, bEff, overwrite, tile);
                                else GemmVector.kernelF64(kc, ap, ir * kc, bp, jr * kc, c, cIdx, n, mrc, nrc, alpha, bEff, overwrite, tile);
                            }
                        }
                    }
                }
            }
        }

        /**
         * Packs op(A)[ic..ic+mc, pc..pc+kc] row-major: {@code ap[i·kc + p]}, rows padded with zeros to
         * a multiple of MR (so the strip of rows ir..ir+MR starts at {@code ir·kc}). Without
         * transpose this is one bulk copy per row; with it, each contiguous column run of a is
         * bulk-copied into {@code row} (one bounds/liveness check per run) and scattered.
         */
        private void packAF64(double[] ap, double[] row, long aBase, int ic, int mcur, int pc, int kc) {
            if (!transA) { // a [M,K]: row i of op(A) is contiguous along p
                for (int i = 0; i < mcur; i++)
                    MemorySegment.copy(a, D, (aBase + (long) (ic + i) * k + pc) * D.byteSize(), ap, i * kc, kc);
            } else { // a [K,M]: column p of op(A) is contiguous along i
                for (int p = 0; p < kc; p++) {
                    MemorySegment.copy(a, D, (aBase + (long) (pc + p) * m + ic) * D.byteSize(), row, 0, mcur);
                    for (int i = 0; i < mcur; i++) ap[i * kc + p] = row[i];
                }
            }
            int padded = roundUp(mcur, mr);
            if (padded > mcur) java.util.Arrays.fill(ap, mcur * kc, padded * kc, 0d);
        }

        /** Packs op(B)[pc..pc+kc, jc..jc+nc] into NR-wide strips: {@code bp[jr·kc + p·NR + j]}, zero-padded. */
        private void packBF64(double[] bp, double[] row, long bBase, int pc, int kc, int jc, int ncur) {
            if (!transB) { // b [K,N]: row p of op(B) is contiguous along j
                for (int p = 0; p < kc; p++) {
                    MemorySegment.copy(b, D, (bBase + (long) (pc + p) * n + jc) * D.byteSize(), row, 0, ncur);
                    for (int jr = 0; jr < ncur; jr += nr)
                        System.arraycopy(row, jr, bp, jr * kc + p * nr, Math.min(nr, ncur - jr));
                }
            } else { // b [N,K]: column j of op(B) is contiguous along p
                for (int j = 0; j < ncur; j++) {
                    MemorySegment.copy(b, D, (bBase + (long) (jc + j) * k + pc) * D.byteSize(), row, 0, kc);
                    int dst = (j - j % nr) * kc + j % nr;
                    for (int p = 0; p < kc; p++) bp[dst + p * nr] = row[p];
                }
            }
            int tail = ncur % nr;
            if (tail != 0) {
                int base = (ncur - tail) * kc;
                for (int p = 0; p < kc; p++) for (int j = tail; j < nr; j++) bp[base + p * nr + j] = 0d;
            }
        }

        private void kernelScalarF64(int kc, double[] ap, int aOff, double[] bp, int bOff, MemorySegment c, long cIdx,
                                     int mrc, int nrc, double be, boolean overwrite, double[] tile) {
            // 2×4 register blocks, K innermost: 6 loads feed 8 multiply-adds held in locals.
            for (int r = 0; r < mr; r += 2) {
                int a0 = aOff + r * kc, a1 = a0 + kc;
                for (int j = 0; j < nr; j += 4) {
                    double c00 = 0d, c01 = 0d, c02 = 0d, c03 = 0d, c10 = 0d, c11 = 0d, c12 = 0d, c13 = 0d;
                    for (int p = 0, bi = bOff + j; p < kc; p++, bi += nr) {
                        double x0 = ap[a0 + p], x1 = ap[a1 + p];
                        double y0 = bp[bi], y1 = bp[bi + 1], y2 = bp[bi + 2], y3 = bp[bi + 3];
                        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
                        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
                    }
                    int t = r * nr + j;
                    tile[t] = c00; tile[t + 1] = c01; tile[t + 2] = c02; tile[t + 3] = c03;
                    tile[t + nr] = c10; tile[t + nr + 1] = c11; tile[t + nr + 2] = c12; tile[t + nr + 3] = c13;
                }
            }
            writeTileF64(tile, nr, c, cIdx, n, mrc, nrc, alpha, be, overwrite);
        }

        private void scaleF64(long cBase, int m0, int m1, int n0, int n1) {
            for (int i = m0; i < m1; i++)
                for (int j = n0; j < n1; j++) {
                    long idx = cBase + (long) i * n + j;
                    c.setAtIndex(D, idx, beta == 0 ? 0d : beta * c.getAtIndex(D, idx));
                }
        }
    }

    // ------------------------------------------------------------------ shared helpers

    /** Writes the valid {@code mr×nr} part of a tile (row stride {@code ldt}) into C. */
    static void writeTileF32(float[] tile, int ldt, MemorySegment c, long cIdx, int ldc, int mr, int nr,
                             float alpha, float beta, boolean overwrite) {
        for (int r = 0; r < mr; r++) {
            long row = cIdx + (long) r * ldc;
            for (int j = 0; j < nr; j++) {
                float v = alpha * tile[r * ldt + j];
                if (!overwrite) v += beta * c.getAtIndex(F, row + j);
                c.setAtIndex(F, row + j, v);
            }
        }
    }

    static void writeTileF64(double[] tile, int ldt, MemorySegment c, long cIdx, int ldc, int mr, int nr,
                             double alpha, double beta, boolean overwrite) {
        for (int r = 0; r < mr; r++) {
            long row = cIdx + (long) r * ldc;
            for (int j = 0; j < nr; j++) {
                double v = alpha * tile[r * ldt + j];
                if (!overwrite) v += beta * c.getAtIndex(D, row + j);
                c.setAtIndex(D, row + j, v);
            }
        }
    }

    private static int ceilDiv(int x, int y) { return (x + y - 1) / y; }

    private static int roundUp(int x, int y) { return ceilDiv(x, y) * y; }

    /** A step ≤ max (a multiple of {@code unit}) that cuts {@code len} into equal-ish parts. */
    private static int evenStep(int len, int max, int unit) {
        int parts = ceilDiv(Math.max(len, 1), max);
        return Math.max(unit, roundUp(ceilDiv(len, parts), unit));
    }
}
