package dev.speedrun.model;

import dev.speedrun.tensor.Tensor;

/**
 * A parameter: its spec, its value and its gradient (views into the model's flat buffers).
 * {@code grad} may be "unused" for a step (e.g. the untied embedding before the split):
 * {@link #hasGrad()} tells optimizers to skip it.
 */
public final class Parameter {
    private final ParamSpec spec;
    private final Tensor value;
    private final Tensor grad;
    private boolean hasGrad = true;

    public Parameter(ParamSpec spec, Tensor value, Tensor grad) {
        this.spec = spec;
        this.value = value;
        this.grad = grad;
    }

    public ParamSpec spec() { return spec; }

    public String name() { return spec.name(); }

    public String label() { return spec.label(); }

    public Tensor value() { return value; }

    public Tensor grad() { return grad; }

    /** False while the forward pass does not use this parameter. */
    public boolean hasGrad() { return hasGrad; }

    public void setHasGrad(boolean hasGrad) { this.hasGrad = hasGrad; }

    @Override public String toString() { return spec.name() + spec.shape() + " (" + spec.label() + ")"; }
}
