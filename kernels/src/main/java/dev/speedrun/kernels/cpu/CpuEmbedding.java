package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.Acc.get;
import static dev.speedrun.kernels.cpu.Acc.set;

import dev.speedrun.kernels.OpContract;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The embedding family of {@link CpuOps} (embedding.cu on the GPU): table lookup and its
 * scatter-add backward. Token ids are checked against the table here, on the host data.
 */
final class CpuEmbedding {
    private CpuEmbedding() {}

    /** Validates token ids against the table rows, naming the first bad one. */
    static void checkTokens(String op, Tensor tokens, int vocab) {
        MemorySegment ts = tokens.segment();
        for (long t = 0, n = tokens.numel(); t < n; t++) {
            int id = Acc.getInt(ts, t);
            if (id < 0 || id >= vocab)
                throw new IllegalArgumentException(op + ": token id " + id + " at position " + t + " outside [0, " + vocab + ")");
        }
    }

    static void embedding(Tensor out, Tensor table, Tensor tokens) {
        OpContract.Embedding sz = OpContract.embedding(out, table, tokens);
        int V = sz.V(), C = sz.C(), T = sz.T();
        checkTokens("embedding", tokens, V);
        MemorySegment os = out.segment(), es = table.segment(), ts = tokens.segment();
        DType od = out.dtype(), ed = table.dtype();
        Par.forEach(T, C, t -> {
            long src = (long) Acc.getInt(ts, t) * C, dst = (long) t * C;
            for (int c = 0; c < C; c++) set(os, od, dst + c, get(es, ed, src + c));
        });
    }

    static void embeddingBackward(Tensor dTable, Tensor dOut, Tensor tokens) {
        OpContract.Embedding sz = OpContract.embeddingBackward(dTable, dOut, tokens);
        int V = sz.V(), C = sz.C(), T = sz.T();
        checkTokens("embeddingBackward", tokens, V);
        MemorySegment ds = dTable.segment(), gs = dOut.segment(), ts = tokens.segment();
        DType dd = dTable.dtype(), gd = dOut.dtype();
        // Parallel over column blocks: repeated tokens then never race.
        int cb = 64, nb = (C + cb - 1) / cb;
        Par.forEach(nb, (long) T * cb, blk -> {
            int c0 = blk * cb, c1 = Math.min(C, c0 + cb);
            for (int t = 0; t < T; t++) {
                long dst = (long) Acc.getInt(ts, t) * C, src = (long) t * C;
                for (int c = c0; c < c1; c++) Acc.add(ds, dd, dst + c, get(gs, gd, src + c));
            }
        });
    }

}
