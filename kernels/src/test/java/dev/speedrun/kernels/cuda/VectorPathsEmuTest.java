package dev.speedrun.kernels.cuda;

import static dev.speedrun.kernels.cuda.GpuTestSupport.check;
import static dev.speedrun.kernels.cuda.GpuTestSupport.rtol;
import static dev.speedrun.tensor.DType.F32;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.DecayMask;
import dev.speedrun.kernels.cuda.GpuTestSupport.Pair;
import dev.speedrun.kernels.cuda.emu.EmuDevice;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.Fixtures;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The memory-bound kernels' two paths on the emulated device: 8-element 16-byte vector accesses
 * where every pointer is aligned, single elements for misaligned tensor views and for the tail of
 * a count that is not a multiple of 8. Every tensor of a run starts at the same element offset
 * inside a larger buffer: 0 and one vector (aligned: vector path), 1 and VEC − 1 elements
 * (misaligned: scalar path). Each run checks every op against the CPU ops (tolerances of
 * {@link GpuTestSupport}), including mixed dtypes and in-place calls; across runs on the same
 * values, the outputs whose math is per element must be bit-identical whichever path made them.
 * Sizes come from the tiny model fixture (its width is a multiple of 8, so rows vectorise; the
 * flat tensors add VEC − 1 elements for a tail; the head dim VEC·width is a multiple of 32, so
 * rotary and key shift vectorise too).
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class VectorPathsEmuTest {
    static final int VEC = CudaOps.VEC;
    static final long[] OFFSETS = {0, 1, VEC - 1, VEC};

    final int T, C, H, D, G, V, N;

    VectorPathsEmuTest() {
        JsonNode fx = Fixtures.json("model_tiny.json"), c = fx.get("config");
        T = Fixtures.ints(fx.get("tokens")).length;
        C = c.get("model_dim").asInt();
        H = c.get("num_heads").asInt();
        G = c.get("gate_input_dims").asInt();
        V = c.get("vocab_padded").asInt();
        D = VEC * C;
        N = T * C + VEC - 1;
    }

    @ParameterizedTest @EnumSource(names = {"F32", "BF16"})
    void vectorAndScalarPathsAgreeWithTheCpuAndWithEachOther(DType dt) {
        Map<String, double[]> ref = run(dt, OFFSETS[0]);
        for (int k = 1; k < OFFSETS.length; k++) {
            long off = OFFSETS[k];
            Map<String, double[]> got = run(dt, off);
            assertEquals(ref.keySet(), got.keySet());
            for (String name : ref.keySet())
                assertArrayEquals(ref.get(name), got.get(name), name + " " + dt + ": offset " + off + " differs from offset 0");
        }
    }

    /** A copy of {@code src} (both sides) starting {@code off} elements into a fresh buffer. */
    static Pair at(GpuTestSupport s, long off, Pair src) {
        Tensor c = src.cpu(), g = src.gpu();
        long[] dims = c.shape().dims();
        Tensor cv = s.cpuArena.allocate(c.dtype(), c.numel() + off).view(off, dims);
        Tensor gv = s.gpuArena.allocate(g.dtype(), g.numel() + off).view(off, dims);
        HostData.write(cv, HostData.toDoubles(c));
        HostData.write(gv, HostData.toDoubles(g));
        return new Pair(cv, gv);
    }

    /** Every op on tensors at element offset off; returns the GPU outputs that must not depend on the path. */
    Map<String, double[]> run(DType dt, long off) {
        Map<String, double[]> exact = new LinkedHashMap<>();
        DType other = dt == F32 ? DType.BF16 : F32;
        double r = rtol(dt, false), rr = rtol(dt, true);
        try (GpuTestSupport s = GpuTestSupport.openEmu(17, EmuDevice.Options.DEFAULT)) {
            // flat elementwise over N (a tail of VEC − 1), one input in the other dtype
            Pair x = at(s, off, s.input(dt, 1, N)), y = at(s, off, s.input(other, 1, N));
            Pair a = at(s, off, s.input(F32, 1, 1)), b = at(s, off, s.input(F32, 1, 1));
            Pair fill = at(s, off, s.output(dt, N));
            s.both((o, g) -> o.fill(fill.of(g), 0.375));
            exact(exact, "fill", fill, r);
            Pair conv = at(s, off, s.output(other, N));
            s.both((o, g) -> o.convert(conv.of(g), x.of(g)));
            exact(exact, "convert", conv, rtol(DType.BF16, false));
            Pair add = at(s, off, s.output(dt, N));
            s.both((o, g) -> o.add(add.of(g), x.of(g), y.of(g)));
            exact(exact, "add", add, r);
            Pair inPlace = at(s, off, x);
            s.both((o, g) -> o.add(inPlace.of(g), inPlace.of(g), y.of(g)));
            exact(exact, "add in place", inPlace, r);
            Pair mix = at(s, off, s.output(other, N));
            s.both((o, g) -> o.mix(mix.of(g), x.of(g), a.of(g), 0.5, y.of(g), b.of(g), -2));
            exact(exact, "mix", mix, rtol(DType.BF16, false));
            Pair mix1 = at(s, off, s.output(dt, N));
            s.both((o, g) -> o.mix(mix1.of(g), x.of(g), null, 1.5, null, null, 0));
            exact(exact, "mix without y", mix1, r);
            Pair dx = at(s, off, s.input(dt, 1, N)), dy = at(s, off, s.input(other, 1, N)), da = at(s, off, s.input(F32, 1, 1));
            s.both((o, g) -> o.mixBackward(dx.of(g), dy.of(g), da.of(g), null, y.of(g), x.of(g), a.of(g), 0.5, y.of(g), b.of(g), -2));
            exact(exact, "mixBackward dx", dx, r);
            exact(exact, "mixBackward dy", dy, rtol(DType.BF16, false));
            check("mixBackward da", da, rr);
            Pair sig = at(s, off, s.output(dt, N));
            s.both((o, g) -> o.sigmoid(sig.of(g), x.of(g)));
            exact(exact, "sigmoid", sig, r);
            Pair sigIn = at(s, off, x);
            s.both((o, g) -> o.sigmoid(sigIn.of(g), sigIn.of(g)));
            exact(exact, "sigmoid in place", sigIn, r);
            Pair dsig = at(s, off, s.input(dt, 1, N));
            s.both((o, g) -> o.sigmoidBackward(dsig.of(g), y.of(g), sig.of(g)));
            exact(exact, "sigmoidBackward", dsig, r);
            Pair relu = at(s, off, s.output(dt, N));
            s.both((o, g) -> o.reluSquared(relu.of(g), x.of(g)));
            exact(exact, "reluSquared", relu, r);
            Pair drelu = at(s, off, s.input(dt, 1, N));
            s.both((o, g) -> o.reluSquaredBackward(drelu.of(g), y.of(g), x.of(g)));
            exact(exact, "reluSquaredBackward", drelu, r);
            Pair sum = at(s, off, s.output(F32, 1)), sq = at(s, off, s.input(F32, 1, 1));
            s.both((o, g) -> o.sum(sum.of(g), x.of(g), false));
            check("sum", sum, rr);
            s.both((o, g) -> o.sumSquares(sq.of(g), y.of(g), true));
            check("sumSquares (accumulate)", sq, rr);

            // optimizer elementwise, state in dt, gradient in the other dtype; muonMomentum's update in place of g
            Pair p = at(s, off, s.input(dt, 1, N)), gr = at(s, off, s.input(other, 1, N));
            Pair m = at(s, off, same(s, dt, 0.1, false, N)), v = at(s, off, same(s, dt, 0.01, true, N));   // moments in dt on both sides
            s.both((o, g) -> o.adamStep(p.of(g), gr.of(g), m.of(g), v.of(g), 0.008, 0.65, 0.95, 1e-8, 5, 0.01, DecayMask.GT));
            exact(exact, "adamStep p", p, r * 10);
            exact(exact, "adamStep m", m, r * 10);
            exact(exact, "adamStep v", v, r * 10);
            Pair buf = at(s, off, s.input(dt, 1, N)), upd = at(s, off, gr);
            s.both((o, g) -> o.muonMomentum(upd.of(g), buf.of(g), upd.of(g), 0.95));
            exact(exact, "muonMomentum update in place of g", upd, rtol(DType.BF16, false));
            exact(exact, "muonMomentum buf", buf, r);
            s.both((o, g) -> o.decayedUpdate(p.of(g), upd.of(g), 0.023, 0.001, DecayMask.GE));
            exact(exact, "decayedUpdate", p, r * 10);
            Pair mat = at(s, off, s.input(dt, 1, H, T, C)), fro = at(s, off, s.output(dt, H, T, C));
            s.both((o, g) -> o.frobeniusNormalize(fro.of(g), mat.of(g), 1.02, 1e-6));
            check("frobeniusNormalize", fro, rr);
            Pair s2 = at(s, off, same(s, F32, 1, true, H, T));
            s.both((o, g) -> o.varianceReduce(mat.of(g), s2.of(g), 0.95));
            check("varianceReduce v", mat, rr);
            check("varianceReduce s2", s2, rr);

            // rows: embedding, norms, gates (width C), rotary and key shift (head dim D)
            Pair table = at(s, off, s.input(dt, 1, V, C)), tokens = s.ints(V, T);
            Pair emb = at(s, off, s.output(dt, T, C));
            s.both((o, g) -> o.embedding(emb.of(g), table.of(g), tokens.of(g)));
            exact(exact, "embedding", emb, r);
            Pair xr = at(s, off, s.input(dt, 3, T, C)), nrm = at(s, off, s.output(dt, T, C)), rrms = at(s, off, s.output(F32, T));
            s.both((o, g) -> o.rmsNorm(nrm.of(g), rrms.of(g), xr.of(g)));
            check("rmsNorm", nrm, rr);
            check("rmsNorm rrms", rrms, rr);
            Pair nIn = at(s, off, xr), rrIn = at(s, off, s.output(F32, T));
            s.both((o, g) -> o.rmsNorm(nIn.of(g), rrIn.of(g), nIn.of(g)));
            check("rmsNorm in place", nIn, rr);
            Pair dOut = at(s, off, s.input(dt, 1, T, C)), dxr = at(s, off, s.input(dt, 1, T, C));
            s.both((o, g) -> o.rmsNormBackward(dxr.of(g), dOut.of(g), xr.of(g), rrms.of(g)));
            check("rmsNormBackward", dxr, rr);

            Pair hy = at(s, off, s.input(dt, 1, T, H, D)), hw = at(s, off, s.input(other, 0.3, H, G));
            Pair hout = at(s, off, s.output(dt, T, H, D)), hgate = at(s, off, s.output(F32, T, H));
            s.both((o, g) -> o.headGate(hout.of(g), hgate.of(g), hy.of(g), xr.of(g), hw.of(g)));
            exact(exact, "headGate", hout, r);
            exact(exact, "headGate gate", hgate, rtol(F32, true));
            Pair hdy = at(s, off, s.input(dt, 1, T, H, D)), hdx = at(s, off, s.input(dt, 1, T, C));
            Pair hdw = at(s, off, s.input(F32, 1, H, G)), hdOut = at(s, off, s.input(dt, 1, T, H, D));
            s.both((o, g) -> o.headGateBackward(hdy.of(g), hdx.of(g), hdw.of(g), hdOut.of(g), hy.of(g), xr.of(g), hw.of(g), hgate.of(g)));
            exact(exact, "headGateBackward dy", hdy, r);
            check("headGateBackward dx", hdx, rr);
            check("headGateBackward dw", hdw, rr);
            Pair sw = at(s, off, s.input(dt, 0.3, G)), lam = at(s, off, s.input(F32, 1, 1));
            Pair sout = at(s, off, s.output(dt, T, C)), sgate = at(s, off, s.output(F32, T));
            s.both((o, g) -> o.smear(sout.of(g), sgate.of(g), xr.of(g), sw.of(g), lam.of(g)));
            exact(exact, "smear", sout, r);
            exact(exact, "smear gate", sgate, rtol(F32, true));
            Pair sdx = at(s, off, s.input(dt, 1, T, C)), sdw = at(s, off, s.input(F32, 1, G)), sdl = at(s, off, s.input(F32, 1, 1));
            s.both((o, g) -> o.smearBackward(sdx.of(g), sdw.of(g), sdl.of(g), dOut.of(g), xr.of(g), sw.of(g), lam.of(g), sgate.of(g)));
            check("smearBackward dx", sdx, rr);
            check("smearBackward dw", sdw, rr);
            check("smearBackward dLambda", sdl, rr);

            Pair q = at(s, off, s.input(dt, 1, T, H, D)), rot = at(s, off, s.output(dt, T, H, D));
            double[] f = new double[D / 2];   // the record's half-truncated frequencies (base 1024)
            for (int j = 0; j < f.length; j++) f[j] = Math.pow(1024, -j / (double) (D / 4)) * (j < D / 4 ? 1 : 0);
            Pair freqs = at(s, off, s.pair(F32, F32, f, D / 2));
            s.both((o, g) -> o.rotary(rot.of(g), q.of(g), freqs.of(g)));
            exact(exact, "rotary", rot, r * 4);
            Pair rotIn = at(s, off, q);
            s.both((o, g) -> o.rotary(rotIn.of(g), rotIn.of(g), freqs.of(g)));
            exact(exact, "rotary in place", rotIn, r * 4);
            Pair drot = at(s, off, s.input(dt, 1, T, H, D));
            s.both((o, g) -> o.rotaryBackward(drot.of(g), q.of(g), freqs.of(g)));
            exact(exact, "rotaryBackward", drot, r * 4);
            Pair ks = at(s, off, s.output(dt, T, H, D));
            s.both((o, g) -> o.keyShift(ks.of(g), q.of(g)));
            exact(exact, "keyShift", ks, r);
            Pair dks = at(s, off, s.input(dt, 1, T, H, D));
            s.both((o, g) -> o.keyShiftBackward(dks.of(g), q.of(g)));
            exact(exact, "keyShiftBackward", dks, r);
        }
        return exact;
    }

    /** Checks against the CPU, then records the GPU values for the bit-identity check across offsets. */
    static void exact(Map<String, double[]> into, String name, Pair p, double rtol) {
        check(name, p, rtol);
        into.put(name, HostData.toDoubles(p.gpu()));
    }

    /** Gaussian·scale (absolute values for second moments) in dt on both sides (optimizer state). */
    static Pair same(GpuTestSupport s, DType dt, double scale, boolean abs, long... dims) {
        long k = 1;
        for (long d : dims) k *= d;
        double[] v = new double[(int) k];
        for (int i = 0; i < v.length; i++) v[i] = (abs ? Math.abs(s.rnd.nextGaussian()) : s.rnd.nextGaussian()) * scale;
        return s.pair(dt, dt, v, dims);
    }
}
