package dev.speedrun.model;

import java.util.List;
import java.util.NoSuchElementException;

/** The parameters of a model in state-dict order; what optimizers and checkpoints see. */
public interface ParameterTable {
    List<Parameter> parameters();

    default Parameter get(String name) {
        for (Parameter p : parameters()) if (p.name().equals(name)) return p;
        throw new NoSuchElementException("no parameter '" + name + "'");
    }

    default List<Parameter> withLabel(String label) {
        return parameters().stream().filter(p -> p.label().equals(label)).toList();
    }
}
