package dev.speedrun.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.speedrun.kernels.Kernels;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.MemoryArena;
import dev.speedrun.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A checkpoint lists each parameter's state tensors in {@link ParamState#tensors()} order, so that
 * order must not depend on the JVM: Map.of/Map.copyOf iterate in a per-process order, and a resumed
 * process wrote the same state with another header (found by the kill/resume soak).
 */
class ParamStateTest {
    @Test void tensorsIterateInNameOrderWhateverTheInsertionOrder() {
        try (MemoryArena arena = Kernels.cpu().backend().newArena()) {
            List<String> names = List.of("v", "second_momentum", "momentum_buffer", "exp_avg_sq", "exp_avg", "a");
            Map<String, Tensor> in = new LinkedHashMap<>();
            for (String n : names) in.put(n, arena.allocate(DType.F32, 1));
            ParamState s = new ParamState(3, in);
            List<String> sorted = new ArrayList<>(names);
            sorted.sort(null);
            assertEquals(sorted, new ArrayList<>(s.tensors().keySet()));
            assertEquals(in.get("exp_avg"), s.tensor("exp_avg"));
        }
    }
}
