package dev.speedrun.kernels.cuda;

/**
 * Events that order the work of a GPU's streams ({@link Lane}) against each other on the device,
 * without a host wait. {@link JCudaDevice} is the real one; tests substitute recorders.
 */
interface StreamEvents {
    /** Creates an event (no timing) and returns its index for {@link #recordEvent} and {@link #waitEvent}. */
    int createEvent();

    /** Records {@code event} on {@code lane}'s stream: it completes when the work queued there so far has run. */
    void recordEvent(int event, Lane lane);

    /**
     * Makes {@code lane}'s stream wait on the device for the last recording of {@code event}
     * (cuStreamWaitEvent; an event never recorded does not hold it up).
     */
    void waitEvent(Lane lane, int event);
}
