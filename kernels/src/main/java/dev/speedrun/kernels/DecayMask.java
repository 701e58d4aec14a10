package dev.speedrun.kernels;

/**
 * Which elements weight decay touches, as a function of the sign of {@code update · param}.
 * ALL is plain decoupled decay; GE/GT are the cautious masks of records 177/178.
 */
public enum DecayMask {
    /** Decay every element. */
    ALL,
    /** Decay where update·param ≥ 0 (cautious, record 177 Adam; NorMuon). */
    GE,
    /** Decay where update·param > 0 (cautious strict, record 178 Adam). */
    GT;

    public boolean test(double updateTimesParam) {
        return switch (this) {
            case ALL -> true;
            case GE -> updateTimesParam >= 0;
            case GT -> updateTimesParam > 0;
        };
    }
}
