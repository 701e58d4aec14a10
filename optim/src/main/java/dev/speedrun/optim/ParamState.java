package dev.speedrun.optim;

import dev.speedrun.tensor.Tensor;
import java.util.Map;

/**
 * The optimizer state of one parameter, whole (gathered from all ranks), as a checkpoint or the
 * untie plugin sees it.
 *
 * @param step    number of updates applied (Adam's bias-correction count; 0 for NorMuon)
 * @param tensors named state tensors, each the parameter's full size: Adam "exp_avg" and
 *                "exp_avg_sq" (parameter shape); NorMuon "momentum_buffer" (parameter shape) and
 *                "second_momentum" ([blocks, rows per block])
 */
public record ParamState(long step, Map<String, Tensor> tensors) {
    public ParamState {
        tensors = Map.copyOf(tensors);
    }

    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException("no state tensor '" + name + "' (have " + tensors.keySet() + ")");
        return t;
    }
}
