package dev.speedrun.optim;

import dev.speedrun.tensor.Tensor;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/**
 * The optimizer state of one parameter, whole (gathered from all ranks), as a checkpoint or the
 * untie plugin sees it.
 *
 * @param step    number of updates applied (Adam's bias-correction count; 0 for NorMuon)
 * @param tensors named state tensors, each the parameter's full size: Adam "exp_avg" and
 *                "exp_avg_sq" (parameter shape); NorMuon "momentum_buffer" (parameter shape) and
 *                "second_momentum" ([blocks, rows per block]); iterated in name order
 */
public record ParamState(long step, Map<String, Tensor> tensors) {
    public ParamState {
        // sorted by name: Map.of/Map.copyOf iterate in an order that changes from one JVM to the next,
        // and a checkpoint lists the tensors in this order, so a resumed process would write other bytes
        tensors = Collections.unmodifiableSortedMap(new TreeMap<>(tensors));
    }

    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException("no state tensor '" + name + "' (have " + tensors.keySet() + ")");
        return t;
    }
}
