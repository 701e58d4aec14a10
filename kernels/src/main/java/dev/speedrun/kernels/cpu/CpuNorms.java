package dev.speedrun.kernels.cpu;

import static dev.speedrun.kernels.cpu.Acc.get;
import static dev.speedrun.kernels.cpu.Acc.set;

import dev.speedrun.kernels.OpContract;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The norms family of {@link CpuOps} (norms.cu on the GPU): RMS norm without weights over the last
 * axis, forward and backward. All-F32 calls go to {@link NormsVector}.
 */
final class CpuNorms {
    private CpuNorms() {}

    static void rmsNorm(Tensor out, Tensor rrms, Tensor x) {
        OpContract.Rows rows = OpContract.rmsNorm(out, rrms, x);
        int C = rows.C(), R = rows.R();
        double eps = out.dtype().epsilon();
        MemorySegment os = out.segment(), rs = rrms.segment(), xs = x.segment();
        DType od = out.dtype(), rd = rrms.dtype(), xd = x.dtype();
        if (Vectors.f32(out, rrms, x)) {
            Par.rowBlocks(R, 2L * C, (r0, r1) -> NormsVector.rmsNorm(os, rs, xs, C, r0, r1, eps, Scratch.floats(Scratch.TASK, C)));
            return;
        }
        Par.forEach(R, 2L * C, r -> {
            long off = (long) r * C;
            double ss = 0;
            for (int c = 0; c < C; c++) { double v = get(xs, xd, off + c); ss += v * v; }
            double inv = 1.0 / Math.sqrt(ss / C + eps);
            for (int c = 0; c < C; c++) set(os, od, off + c, get(xs, xd, off + c) * inv);
            set(rs, rd, r, inv);
        });
    }

    static void rmsNormBackward(Tensor dx, Tensor dOut, Tensor x, Tensor rrms) {
        OpContract.Rows rows = OpContract.rmsNormBackward(dx, dOut, x, rrms);
        int C = rows.C(), R = rows.R();
        MemorySegment ds = dx.segment(), gs = dOut.segment(), xs = x.segment(), rs = rrms.segment();
        DType dd = dx.dtype(), gd = dOut.dtype(), xd = x.dtype(), rd = rrms.dtype();
        if (Vectors.f32(dx, dOut, x, rrms)) {
            Par.rowBlocks(R, 4L * C, (r0, r1) -> NormsVector.rmsNormBackward(ds, gs, xs, rs, C, r0, r1,
                    Scratch.floats(Scratch.TASK, C), Scratch.floats(Scratch.TASK + 1, C), Scratch.floats(Scratch.TASK + 2, C)));
            return;
        }
        Par.forEach(R, 3L * C, r -> {
            long off = (long) r * C;
            double inv = get(rs, rd, r);
            double dot = 0;
            for (int c = 0; c < C; c++) dot += get(gs, gd, off + c) * get(xs, xd, off + c) * inv;
            double mean = dot / C;
            for (int c = 0; c < C; c++) {
                double y = get(xs, xd, off + c) * inv;
                Acc.add(ds, dd, off + c, inv * (get(gs, gd, off + c) - y * mean));
            }
        });
    }

}
