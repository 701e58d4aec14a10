package dev.speedrun.schedules;

/**
 * A value that depends only on the training step (the record's schedules are all of this kind):
 * no state, so a resumed run, a test and a plot all see the same value for the same step.
 */
@FunctionalInterface
public interface Schedule<T> {
    T at(int step);
}
