package dev.speedrun.model;

import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Shape;

/**
 * One row of the spec's parameter table: state-dict name, shape, initialisation, optimizer label,
 * lr and weight-decay multipliers, and the dtype the record keeps it in on a GPU.
 */
public record ParamSpec(String name, Shape shape, Init init, String label, double lrMul, double wdMul, DType gpuDType) {
    /** Rows and columns of the parameter viewed as a matrix (scalars and vectors as [1, n]). */
    public long rows() { return shape.rank() >= 2 ? shape.dim(0) : 1; }

    public long cols() { return shape.rank() >= 2 ? shape.numel() / shape.dim(0) : shape.numel(); }
}
