package dev.speedrun.app.research;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** How a sweep splits the visible GPUs into groups and how long its remaining runs take on its slots. */
class SweepSchedulingTest {
    @Test void gpuGroupsAreDisjointConsecutiveSlicesOfTheVisibleIds() {
        for (String visible : new String[] {null, "", "4,5,6,7", "3, 1,2", "0,1,2,3,4,5,6,7"})
            for (int count = 1; count <= 8; count++)
                for (int k = 1; k <= 8; k++) {
                    List<String> ids = SweepCommand.visibleIds(visible, count);
                    if (visible != null && !visible.isBlank()) {
                        List<String> given = List.of(visible.replace(" ", "").split(","));
                        assertEquals(given.subList(0, Math.min(count, given.size())), ids, "the child names the GPUs as we see them");
                    } else {
                        assertEquals(count, ids.size());
                        for (int i = 0; i < count; i++) assertEquals(String.valueOf(i), ids.get(i));
                    }
                    List<String> groups = SweepCommand.groups(ids, k);
                    assertEquals(ids.size() / k, groups.size(), visible + " " + count + " " + k);
                    Set<String> used = new HashSet<>();
                    List<String> inOrder = new ArrayList<>();
                    for (String g : groups) {
                        List<String> members = List.of(g.split(","));
                        assertEquals(k, members.size(), g);
                        for (String m : members) assertTrue(used.add(m), "GPU " + m + " in two groups: " + groups);
                        inOrder.addAll(members);
                    }
                    assertEquals(ids.subList(0, inOrder.size()), inOrder, "groups take the ids in order");
                }
    }

    @Test void makespanIsListSchedulingOnTheSlotThatFreesFirst() {
        SplittableRandom r = new SplittableRandom(5);
        for (int trial = 0; trial < 200; trial++) {
            int slots = 1 + r.nextInt(4);
            List<Double> busy = new ArrayList<>(), queued = new ArrayList<>();
            for (int i = r.nextInt(slots + 1); i > 0; i--) busy.add(r.nextDouble(-1, 10));   // a run past its estimate has 0 left
            for (int i = r.nextInt(7); i > 0; i--) queued.add(r.nextDouble(0, 10));
            // reference: slot clocks in an array, each queued run on the earliest one
            double[] clock = new double[slots];
            for (int i = 0; i < busy.size(); i++) clock[i] = Math.max(0, busy.get(i));
            for (double q : queued) {
                int best = 0;
                for (int s = 1; s < slots; s++) if (clock[s] < clock[best]) best = s;
                clock[best] += q;
            }
            double want = 0;
            for (double c : clock) want = Math.max(want, c);
            assertEquals(want, SweepEstimate.makespan(busy, queued, slots), 1e-12, busy + " " + queued + " on " + slots);
        }
        double one = 0;
        for (double q : List.of(1.0, 2.0, 3.0)) one += q;
        assertEquals(one, SweepEstimate.makespan(List.of(), List.of(1.0, 2.0, 3.0), 1), 0.0, "one slot: the sum");
    }

    @Test void calibrationRateSplitsTrainingFromValidation() {
        double trainMs = 900, outsideS = 2.5;
        long tokens = 3000;
        int vals = 2;
        SweepEstimate e = SweepEstimate.fromCalibration(trainMs, tokens, outsideS, vals, "cal");
        assertEquals(trainMs / 1000 / tokens, e.secPerToken(), 1e-18);
        assertEquals(outsideS / vals, e.secPerValidation(), 1e-15);
        assertTrue(!SweepEstimate.fromCalibration(0, tokens, outsideS, vals, "cal").known(), "no training time measured: no estimate");
        SweepEstimate f = SweepEstimate.fromFinished(120, 4000);
        assertEquals(120.0 / 4000, f.secPerToken(), 1e-18);
        assertEquals(0, f.secPerValidation());
    }
}
