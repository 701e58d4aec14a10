package dev.speedrun.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.speedrun.kernels.Collectives;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.kernels.collective.InProcessCollectives;
import dev.speedrun.losses.SoftcapCrossEntropy;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.Parameter;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.TinyModelFixture;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;

/**
 * The overlapped optimizer order on in-process ranks with the tiny fixture model's real backward:
 * with the gradient-ready hook installed for each step's last micro-batch (as the trainer does),
 * the gradients' collectives are issued while that backward still runs (Adam's on Adam steps, and
 * each NorMuon group's reduce-scatter), and after several steps (Adam steps, the frozen scalars
 * optimizer, the embedding untied half-way) every rank's parameters equal those of the same run
 * without the hook (every collective issued in {@code step}), bit for bit, on 1, 2 and 4 ranks.
 */
class OverlappedStepTest {
    static final int STEPS = 4, MICRO = 2;

    /** Per rank: parameters after the run, and per step how many collectives the last backward issued. */
    record Run(Map<Integer, Map<String, double[]>> values, Map<Integer, int[]> duringBackward, Map<Integer, double[]> firstAt) {}

    @Test void collectivesRunDuringTheBackwardWithTheSameResults() {
        for (int world : new int[] {1, 2, 4}) {
            Run plain = run(world, false), overlapped = run(world, true);
            for (int r = 0; r < world; r++) {
                for (var e : plain.values().get(r).entrySet())
                    assertArrayEquals(e.getValue(), overlapped.values().get(r).get(e.getKey()),
                            e.getKey() + " on rank " + r + " of " + world + ": the overlapped order changed the result");
                int[] during = overlapped.duringBackward().get(r), none = plain.duringBackward().get(r);
                for (int step = 0; step < STEPS; step++) {
                    assertEquals(0, none[step], "without the hook nothing is issued in the backward");
                    if (world == 1) {
                        assertEquals(0, during[step], "one rank: nothing to synchronise");
                        continue;
                    }
                    assertTrue(during[step] > 0, "step " + step + ": NorMuon's reduce-scatters start in the backward");
                    if (SyntheticRun.plan(step).adamStep())
                        assertTrue(during[step] > during[step - 1], "step " + step + ": Adam's collectives start in the backward too");
                }
                if (world > 1) {
                    // the untied lm_head is final right after the head's backward: its collective starts early in the last micro-batch
                    double at = overlapped.firstAt().get(r)[STEPS - 1];
                    assertTrue(at < 0.75, "first collective of the last backward at " + at + " of the micro-batch's ops");
                }
            }
            System.out.printf("overlap world %d: collectives issued during the last backward per step (rank 0): %s%n", world,
                    java.util.Arrays.toString(overlapped.duringBackward().get(0)));
        }
    }

    /** {@link SyntheticRun}'s plans and optimizers on the fixture model: STEPS steps of MICRO micro-batches per rank. */
    static Run run(int world, boolean overlap) {
        TinyModelFixture fx = TinyModelFixture.read();
        JsonNode c = fx.config();
        GptConfig cfg = GptConfig.withSizes(c.get("vocab_size").asInt(), c.get("num_layers").asInt(), c.get("num_heads").asInt(),
                c.get("head_dim").asInt(), c.get("model_dim").asInt(), c.get("block_size").asInt(), c.get("gate_input_dims").asInt());
        Map<Integer, Map<String, double[]>> values = new ConcurrentHashMap<>();
        Map<Integer, int[]> during = new ConcurrentHashMap<>();
        Map<Integer, double[]> firstAt = new ConcurrentHashMap<>();
        int T = fx.tokens().length;
        InProcessCollectives.run(world, coll -> {
            long[] opCount = {0};
            Ops cpu = Kernels.cpu();
            Ops counting = (Ops) Proxy.newProxyInstance(Ops.class.getClassLoader(), new Class<?>[] {Ops.class}, (proxy, m, args) -> {
                opCount[0]++;
                try {
                    return m.invoke(cpu, args);
                } catch (InvocationTargetException e) {
                    throw e.getCause();
                }
            });
            List<Long> issued = new ArrayList<>();   // op count at each collective
            Collectives logged = logging(coll, issued, opCount);
            int[] inBackward = new int[STEPS];
            double[] first = new double[STEPS];
            try (Gpt gpt = new Gpt(cfg, counting, DType.F64, T, world, 0);
                 Optimizers opt = Optimizers.build(SyntheticRun.configs(), gpt, counting, logged)) {
                opt.zeroAllGrads();
                for (int step = 0; step < STEPS; step++) {
                    gpt.setSplitEmbed(step >= SyntheticRun.SPLIT_STEP);
                    StepPlan plan = SyntheticRun.plan(step);
                    for (int micro = 0; micro < MICRO; micro++) {
                        int[] tokens = rotate(fx.tokens(), coll.rank() * MICRO + micro), targets = rotate(fx.targets(), coll.rank() * MICRO + micro);
                        boolean last = micro == MICRO - 1;
                        if (last && overlap) gpt.setGradientListener(opt.gradientListener(plan));
                        long start = opCount[0];
                        int before = issued.size();
                        gpt.forwardBackward(tokens, targets, fx.cuSeqlens(), fx.windowShort(), fx.windowLong(), new SoftcapCrossEntropy(),
                                new double[] {1}, 1.0 / MICRO);
                        gpt.setGradientListener(null);
                        if (last) {
                            inBackward[step] = issued.size() - before;
                            first[step] = inBackward[step] == 0 ? 1 : (issued.get(before) - start) / (double) (opCount[0] - start);
                        }
                    }
                    opt.step(plan);
                    if (step == SyntheticRun.SPLIT_STEP - 1) {   // the untie plugin's copy
                        gpt.copyHeadToEmbed();
                        opt.copyState("lm_head.weight", "embed.weight");
                    }
                }
                Map<String, double[]> vals = new LinkedHashMap<>();
                for (Parameter p : gpt.parameters()) vals.put(p.name(), HostData.toDoubles(p.value()));
                values.put(coll.rank(), vals);
                during.put(coll.rank(), inBackward);
                firstAt.put(coll.rank(), first);
            }
        });
        return new Run(values, during, firstAt);
    }

    private static int[] rotate(int[] a, int by) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) out[i] = a[(i + by) % a.length];
        return out;
    }

    /** {@code c} noting the op count at each collective (synchronous or started asynchronously). */
    private static Collectives logging(Collectives c, List<Long> issued, long[] opCount) {
        return new Collectives() {
            @Override public int rank() { return c.rank(); }
            @Override public int worldSize() { return c.worldSize(); }
            @Override public void allReduce(Tensor buf, Reduce op) { issued.add(opCount[0]); c.allReduce(buf, op); }
            @Override public void reduceScatter(Tensor out, Tensor in, Reduce op) { issued.add(opCount[0]); c.reduceScatter(out, in, op); }
            @Override public void allGather(Tensor out, Tensor in) { issued.add(opCount[0]); c.allGather(out, in); }
            @Override public void broadcast(Tensor buf, int root) { issued.add(opCount[0]); c.broadcast(buf, root); }
            @Override public void barrier() { c.barrier(); }
        };
    }
}
