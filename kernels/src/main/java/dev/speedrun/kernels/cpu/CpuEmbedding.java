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
        if (dd == DType.BF16) {
            bf16Backward(ds, gs, gd, ts, V, C, T);
            return;
        }
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

    /**
     * A BF16 table (a BF16 parameter's gradient, as the record's): each row's sum over its tokens
     * in double, rounded to BF16 once and added with one more rounding, as the record's BF16
     * embedding gradient of one backward added into the BF16 {@code .grad} (embedding.cu does the
     * same with F32 sums). Per-token BF16 additions would drop every addend below 2^-9 of the row's
     * running sum. Positions are grouped by token (counting sort), one task per token.
     */
    private static void bf16Backward(MemorySegment ds, MemorySegment gs, DType gd, MemorySegment ts, int V, int C, int T) {
        int[] start = new int[V + 1];
        for (int t = 0; t < T; t++) start[Acc.getInt(ts, t) + 1]++;
        for (int v = 0; v < V; v++) start[v + 1] += start[v];
        int[] next = start.clone(), order = new int[T];
        for (int t = 0; t < T; t++) order[next[Acc.getInt(ts, t)]++] = t;
        int[] ids = new int[T];
        int n = 0;
        for (int v = 0; v < V; v++) if (start[v + 1] > start[v]) ids[n++] = v;
        Par.forEach(n, (long) C * T / Math.max(1, n), k -> {
            int id = ids[k];
            double[] row = Scratch.doubles(Scratch.TASK, C);
            java.util.Arrays.fill(row, 0, C, 0.0);
            for (int q = start[id]; q < start[id + 1]; q++) {
                long src = (long) order[q] * C;
                for (int c = 0; c < C; c++) row[c] += get(gs, gd, src + c);
            }
            long dst = (long) id * C;
            for (int c = 0; c < C; c++) Acc.addGrad(ds, DType.BF16, dst + c, row[c]);
        });
    }
}
