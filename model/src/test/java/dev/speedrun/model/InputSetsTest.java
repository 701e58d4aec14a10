package dev.speedrun.model;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.cuda.CudaOps;
import dev.speedrun.kernels.cuda.emu.EmuBackend;
import dev.speedrun.kernels.cuda.emu.EmuDevice;
import dev.speedrun.kernels.cuda.emu.EmuLibrary;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.tensor.UploadStream;
import dev.speedrun.testsupport.TinyModelFixture;
import java.lang.foreign.MemorySegment;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The training plan's two input sets ({@link Activations.InputSets}): consecutive uploads alternate
 * between them through the backend's {@link UploadStream} (acquire, copies, publish, and release
 * after the backward or the loss), and a model running micro-batches of different sizes one after
 * the other (a long one, a short one whose set still holds older, longer inputs, then both again,
 * with an evaluation between) gives each the loss and gradients of a fresh model running it alone,
 * bit for bit, on the CPU and on the emulated GPU (whose queue runs in call order).
 */
class InputSetsTest {
    /** The fixture's batch and a shorter one: its first document only, its tokens rotated. */
    private record Batch(int[] tokens, int[] targets, int[] cu) {}

    private static List<Batch> batches(TinyModelFixture fx) {
        int[] cu = fx.cuSeqlens();
        int n = cu[1];
        int[] tok = new int[n], tgt = new int[n];
        for (int i = 0; i < n; i++) {
            tok[i] = fx.tokens()[(i + 1) % n];
            tgt[i] = fx.targets()[(i + 1) % n];
        }
        Batch full = new Batch(fx.tokens(), fx.targets(), cu), part = new Batch(tok, tgt, new int[] {0, n});
        return List.of(full, part, full, part);
    }

    /** Loss and every gradient after one micro-batch from zero gradients. */
    private static List<double[]> run(Gpt gpt, TinyModelFixture fx, Batch b) {
        gpt.zeroGrads();
        double loss = gpt.forwardBackward(b.tokens(), b.targets(), b.cu(), fx.windowShort(), fx.windowLong(), TestSupport.LOSS,
                fx.results().getFirst().mtpWeights(), 1.0);
        List<double[]> out = new ArrayList<>();
        out.add(new double[] {loss});
        for (Parameter p : gpt.parameters()) out.add(HostData.toDoubles(p.grad()));
        return out;
    }

    private static Gpt model(Ops ops, TinyModelFixture fx) {
        Gpt gpt = new Gpt(TestSupport.config(fx.config()), ops, DType.F32, fx.tokens().length, 1, 0);
        Checkpoints.load(gpt, fx.weights());
        return gpt;
    }

    private static void alternatingSetsMatchFreshModels(Ops ops) {
        TinyModelFixture fx = TinyModelFixture.read();
        List<Batch> bs = batches(fx);
        try (Gpt seq = model(ops, fx)) {
            for (int i = 0; i < bs.size(); i++) {
                List<double[]> got = run(seq, fx, bs.get(i));
                if (i == 1) seq.evaluate(fx.tokens(), fx.targets(), fx.cuSeqlens(), fx.windowShort(), fx.windowLong(), TestSupport.LOSS);
                try (Gpt fresh = model(ops, fx)) {
                    List<double[]> want = run(fresh, fx, bs.get(i));
                    for (int j = 0; j < want.size(); j++)
                        assertArrayEquals(want.get(j), got.get(j), "micro-batch " + i + ", " + (j == 0 ? "loss" : seq.parameters().get(j - 1).name()));
                }
            }
        }
    }

    @Test void alternatingSetsGiveTheResultsOfFreshModelsOnTheCpu() { alternatingSetsMatchFreshModels(Kernels.cpu()); }

    /**
     * One emulator worker: blocks run one after another, so the atomic additions (the embedding
     * backward's) happen in one order and two runs agree bit for bit (with several workers they
     * may not, whatever the inputs).
     */
    @Test void alternatingSetsGiveTheResultsOfFreshModelsOnTheEmulatedGpu() {
        String why = EmuLibrary.problem(EmuLibrary.MAIN);
        assumeTrue(why.isEmpty(), "no emulated CUDA device: " + why);
        EmuDevice.Options oneWorker = new EmuDevice.Options(EmuDevice.Order.IN_ORDER, true, 1, 1, 90);
        alternatingSetsMatchFreshModels(new CudaOps(new EmuDevice(new EmuBackend(), oneWorker)));
    }

    /** The upload stream's calls as the model makes them: sets alternate, each released after its micro-batch's backward. */
    @Test void uploadsAlternateAndReleaseAfterTheBackward() {
        TinyModelFixture fx = TinyModelFixture.read();
        Ops cpu = Kernels.cpu();
        List<String> log = new ArrayList<>();
        int[] ops = {0};
        Backend real = cpu.backend();
        Backend recording = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, (proxy, m, args) -> {
            if (m.getName().equals("newUploadStream")) {
                int sets = (int) args[0];
                log.add("new upload stream of " + sets + " sets");
                UploadStream inner = real.newUploadStream(sets);
                return new UploadStream() {
                    @Override public void acquire(int set) { log.add("acquire " + set); }
                    @Override public void copy(Tensor dst, MemorySegment src) { log.add("copy"); inner.copy(dst, src); }
                    @Override public void publish(int set) { log.add("publish " + set); }
                    @Override public void release(int set) { log.add("release " + set + " after " + ops[0] + " ops"); }
                };
            }
            return invoke(m, real, args);
        });
        Ops counting = (Ops) Proxy.newProxyInstance(Ops.class.getClassLoader(), new Class<?>[] {Ops.class}, (proxy, m, args) -> {
            if (m.getName().equals("backend")) return recording;
            ops[0]++;
            return invoke(m, cpu, args);
        });
        try (Gpt gpt = model(counting, fx)) {
            List<String> want = new ArrayList<>(List.of("new upload stream of 2 sets"));
            for (int micro = 0; micro < 3; micro++) {
                run(gpt, fx, batches(fx).get(micro));
                int k = (micro + 1) % 2;
                want.addAll(List.of("acquire " + k, "copy", "copy", "copy", "publish " + k, "release " + k + " after " + ops[0] + " ops"));
            }
            assertEquals(want, log, "the release comes after the micro-batch's last op");
        }
    }

    private static Object invoke(java.lang.reflect.Method m, Object target, Object[] args) throws Throwable {
        try {
            return m.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
