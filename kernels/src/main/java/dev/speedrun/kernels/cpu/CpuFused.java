package dev.speedrun.kernels.cpu;

import dev.speedrun.kernels.OpContract;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The fused family of {@link CpuOps} (fused.cu on the GPU): ops that a GPU runs as one kernel to
 * save launches and memory round trips, each defined as a fixed sequence of unfused ops with the
 * intermediate results stored in the activation dtype. On the CPU a launch costs nothing, so each
 * runs exactly that sequence through the unfused family code (including their Vector API paths):
 * the fused op is then bit for bit the composition by construction, and it stays the reference
 * the CUDA kernels are tested against.
 */
final class CpuFused {
    private CpuFused() {}

    static void mixRmsNorm(Tensor out, Tensor norm, Tensor rrms, Tensor scaled, Tensor x, Tensor a, double ca, Tensor y, Tensor b,
                           double cb, Tensor s) {
        OpContract.mixRmsNorm(out, norm, rrms, scaled, x, a, y, b, s);
        CpuElementwise.mix(out, x, a, ca, y, b, cb);
        CpuNorms.rmsNorm(norm, rrms, out);
        if (scaled != null) CpuElementwise.mix(scaled, norm, s, 1, null, null, 0);
    }

    static void rmsNormRotary(Tensor out, Tensor rrms, Tensor x, Tensor freqs, boolean keyShift) {
        OpContract.Thd s = OpContract.rmsNormRotary(out, rrms, x, freqs, keyShift);
        long rows = (long) s.T() * s.H();
        CpuNorms.rmsNorm(out.reshape(rows, s.D()), rrms, x.reshape(rows, s.D()));
        CpuRotary.rotary(out, out, freqs);
        if (keyShift) shiftInPlace(out, s.T(), s.H(), s.D());
    }

    static void rmsNormRotaryBackward(Tensor dx, Tensor dOut, Tensor x, Tensor rrms, Tensor freqs, boolean keyShift) {
        OpContract.Thd s = OpContract.rmsNormRotaryBackward(dx, dOut, x, rrms, freqs, keyShift);
        long rows = (long) s.T() * s.H(), n = rows * s.D();
        // the unfused sequence's intermediate gradients (two with the key shift), zeroed as the model zeroes them
        long bytes = n * dx.dtype().byteSize();
        Intermediate buf = INTERMEDIATE.get().ensure((keyShift ? 2 : 1) * bytes);
        Tensor rotated = buf.tensor(0, dx.dtype(), x.shape().dims());
        Tensor shifted = keyShift ? buf.tensor(bytes, dx.dtype(), x.shape().dims()) : dOut;
        if (keyShift) {
            CpuElementwise.fill(shifted, 0);
            CpuRotary.keyShiftBackward(shifted, dOut);
        }
        CpuElementwise.fill(rotated, 0);
        CpuRotary.rotaryBackward(rotated, shifted, freqs);
        CpuNorms.rmsNormBackward(dx.reshape(rows, s.D()), rotated.reshape(rows, s.D()), x.reshape(rows, s.D()), rrms);
    }

    static void headGateScaled(Tensor out, Tensor gate, Tensor scaled, Tensor y, Tensor x, Tensor w, Tensor s) {
        OpContract.headGateScaled(out, gate, scaled, y, x, w, s);
        CpuGates.headGate(out, gate, y, x, w);
        CpuElementwise.mix(scaled, out, s, 1, null, null, 0);
    }

    static void addEmbedding(Tensor out, Tensor x, Tensor table, Tensor tokens) {
        OpContract.Embedding sz = OpContract.addEmbedding(out, x, table, tokens);
        int C = sz.C();
        CpuEmbedding.checkTokens("addEmbedding", tokens, sz.V());
        MemorySegment os = out.segment(), xs = x.segment(), es = table.segment(), ts = tokens.segment();
        DType od = out.dtype(), xd = x.dtype(), ed = table.dtype();
        // embedding's copy into a buffer of out's dtype (rounded there), then add's sum in double rounded
        // once: for F32 the correctly rounded float sum, which the add's Vector API path computes too
        Par.forEach(sz.T(), 2L * C, t -> {
            long src = (long) Acc.getInt(ts, t) * C, dst = (long) t * C;
            for (int c = 0; c < C; c++) Acc.set(os, od, dst + c, Acc.get(xs, xd, dst + c) + Acc.round(od, Acc.get(es, ed, src + c)));
        });
    }

    /**
     * Host buffers for the intermediates of {@link #rmsNormRotaryBackward}, one per calling thread
     * (the ranks of a CPU run are threads of one process), grown as needed and then reused, so that
     * a training step allocates nothing after its first.
     */
    private static final ThreadLocal<Intermediate> INTERMEDIATE = ThreadLocal.withInitial(Intermediate::new);

    private static final class Intermediate {
        /** Host memory the garbage collector frees with the thread's buffer (no arena to close). */
        private record Buffer(MemorySegment hostSegment) implements dev.speedrun.tensor.Storage {
            @Override public dev.speedrun.tensor.Backend backend() { return dev.speedrun.tensor.Backends.cpu(); }

            @Override public long byteSize() { return hostSegment.byteSize(); }

            @Override public long address() { return hostSegment.address(); }
        }

        private Buffer buffer;

        /** At least {@code need} bytes (contents undefined; earlier tensors of this buffer become invalid). */
        Intermediate ensure(long need) {
            if (buffer == null || buffer.byteSize() < need)
                buffer = new Buffer(java.lang.foreign.Arena.ofAuto().allocate(Math.max(need, 1 << 16), 64));
            return this;
        }

        /** A tensor of {@code dims} at {@code byteOffset} of the buffer (within what {@link #ensure} made room for). */
        Tensor tensor(long byteOffset, DType dtype, long... dims) {
            return new Tensor(buffer, dtype, byteOffset, dev.speedrun.tensor.Shape.of(dims));
        }
    }

    /**
     * {@link CpuRotary#keyShift} with out = x: the shifted dims of row p take row p−1's, walking p
     * downwards so each row is read before it is overwritten (copies: exact in any dtype).
     */
    private static void shiftInPlace(Tensor t, int T, int H, int D) {
        MemorySegment s = t.segment();
        DType d = t.dtype();
        long HD = (long) H * D;
        for (int p = T - 1; p >= 1; p--)
            for (int h = 0; h < H; h++) {
                long row = p * HD + (long) h * D;
                for (int j = D / 4; j < D / 2; j++) Acc.set(s, d, row + j, Acc.get(s, d, row + j - HD));
                for (int j = 3 * D / 4; j < D; j++) Acc.set(s, d, row + j, Acc.get(s, d, row + j - HD));
            }
    }
}
