package dev.speedrun.app;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.speedrun.kernels.DeviceProfile;
import dev.speedrun.kernels.RankRequest;
import dev.speedrun.kernels.Ranks;
import dev.speedrun.kernels.cuda.emu.EmuLibrary;
import dev.speedrun.schedules.TrainingContext;
import dev.speedrun.schedules.TrainingHook;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer's own step (not the bench's copy of it) on the emulated CUDA device, with the
 * record's plugins and mixed precision: from one step's start to the next one's the host waits for
 * the device exactly once — the step's statistics readback, which also carries the finite guard's
 * gradient sums. A guard, a stop check or a loss read of its own would each add a wait.
 */
class TrainerHostSyncEmuTest {
    @TempDir static Path tmp;

    /** Profiles the device from the start of step {@code from} to the start of the next. */
    static final class Probe implements TrainingHook {
        final int from;
        DeviceProfile profile;
        double syncs = Double.NaN;
        long launches;
        String json = "";

        Probe(int from) { this.from = from; }

        @Override public void onStepStart(TrainingContext ctx) {
            if (ctx.step() == from) {
                profile = DeviceProfile.attach(ctx.ops());
                profile.phase(DeviceProfile.Phase.OTHER);
            } else if (ctx.step() == from + 1 && profile != null) {
                profile.endStep();
                profile.close();
                syncs = profile.hostSyncsPerStep();
                launches = profile.launches(DeviceProfile.Phase.OTHER);
                json = profile.json();
            }
        }
    }

    @Test void aTrainingStepWaitsForTheDeviceOnce() throws Exception {
        String why = EmuLibrary.problem(EmuLibrary.MAIN);
        assumeTrue(why.isEmpty(), "skipped: no emulated CUDA device (" + why + ")");
        Path config = TinyRunConfig.write(tmp, 11, 0);
        var prepared = RunLauncher.prepare(config.toString(),
                Map.of("backend", "cuda-emu", "precision", "mixed", "plugins", List.of("mtp", "untie", "cwd", "adam-cwd-strict")),
                List.of());
        TrainingParts parts = TrainingParts.of(prepared.injector());
        // step 1 → 2: no validation (every 3 steps) and no checkpoint (every 0) in between
        Probe probe = new Probe(1);
        List<TrainingHook> hooks = new ArrayList<>(parts.hooks());
        hooks.add(probe);
        TrainingParts probed = new TrainingParts(parts.schedules(), hooks, parts.loss(), parts.tokenWeights(), parts.normuonMask(),
                parts.adamMask());
        var plan = Ranks.plan(new RankRequest(prepared.config().backend(), 1, System.getenv()));
        Trainer trainer = new Trainer(prepared.config(), probed, plan, tmp.resolve("run"), null, null, 3,
                new PrintStream(new ByteArrayOutputStream()), false);
        Trainer.Result r = trainer.run();
        assertTrue(Double.isFinite(r.lastTrainLoss()), "trained: " + r.lastTrainLoss());
        assertTrue(probe.launches > 100, "the probe saw the step's work: " + probe.launches + " launches");
        assertEquals(1.0, probe.syncs, "host waits from the start of step 1 to the start of step 2: "
                + probe.json);
    }
}
