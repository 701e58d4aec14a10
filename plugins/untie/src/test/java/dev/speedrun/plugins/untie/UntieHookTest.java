package dev.speedrun.plugins.untie;

import static org.junit.jupiter.api.Assertions.*;

import dev.speedrun.kernels.Ops;
import dev.speedrun.model.Init;
import dev.speedrun.model.ParamSpec;
import dev.speedrun.model.Parameter;
import dev.speedrun.model.ParameterTable;
import dev.speedrun.schedules.RecordSchedules;
import dev.speedrun.schedules.TrainingContext;
import dev.speedrun.tensor.Backends;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.HostData;
import dev.speedrun.tensor.Shape;
import dev.speedrun.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The hook's effect on a small fake run: when it ties/unties and what it copies. */
class UntieHookTest {
    static Tensor tensor(double... v) {
        Tensor t = new Tensor(Backends.cpu().allocate(8L * v.length), DType.F64, 0, Shape.of(v.length));
        HostData.write(t, v);
        return t;
    }

    static Parameter param(String name, String label, double... v) {
        return new Parameter(new ParamSpec(name, Shape.of(v.length), new Init.Zeros(), label, 1, 1, DType.F32), tensor(v), tensor(new double[v.length]));
    }

    static final class FakeContext implements TrainingContext {
        int step;
        final List<Parameter> params = List.of(param(UntieHook.LM_HEAD, "lm_head", 1, 2, 3), param(UntieHook.EMBED, "embed", 0, 0, 0));
        final List<String> log = new ArrayList<>();
        Boolean tied;

        @Override public int step() { return step; }
        @Override public int totalSteps() { return 20; }
        @Override public RecordSchedules schedules() { throw new UnsupportedOperationException("not used by untie"); }
        @Override public ParameterTable parameters() { return () -> params; }
        @Override public Ops ops() { throw new UnsupportedOperationException("not used by untie"); }
        @Override public void copyOptimizerState(String from, String to) { log.add(step + ":" + from + "->" + to); }
        @Override public void setEmbeddingTied(boolean t) { tied = t; }
    }

    @Test void tiedBeforeSplitCopiesOnceAndUntiesFromSplit() {
        UntieSchedule s = UntieSchedule.of(new UntieOptions(0.5), 20);   // split 10, copy after 9
        UntieHook hook = new UntieHook(s);
        FakeContext ctx = new FakeContext();
        hook.onRunStart(ctx);
        assertTrue(ctx.tied);
        for (int step = 0; step < 20; step++) {
            ctx.step = step;
            hook.onStepStart(ctx);
            assertEquals(step < s.splitStep(), ctx.tied, "tied at step " + step);
            if (step == s.copyAfterStep()) {
                assertArrayEquals(new double[] {0, 0, 0}, HostData.toDoubles(ctx.params.get(1).value()), "no copy before the step");
                // the head has just been updated by the optimizer
                HostData.write(ctx.params.get(0).value(), new double[] {4, 5, 6});
            }
            hook.afterOptimizerStep(ctx);
        }
        assertEquals(List.of(s.copyAfterStep() + ":" + UntieHook.LM_HEAD + "->" + UntieHook.EMBED), ctx.log);
        assertArrayEquals(new double[] {4, 5, 6}, HostData.toDoubles(ctx.params.get(1).value()), "embed = lm_head after the copy step");
    }

    @Test void resumeAfterSplitStartsUntied() {
        UntieHook hook = new UntieHook(UntieSchedule.of(new UntieOptions(0.5), 20));
        FakeContext ctx = new FakeContext();
        ctx.step = 12;
        hook.onRunStart(ctx);
        assertFalse(ctx.tied);
    }
}
