package dev.speedrun.tensor;

import java.util.Locale;

/**
 * A {@link Backend#allocate} the device cannot satisfy: how much was asked, how much is free and
 * how much there is, so that the caller can say what it was allocating and what to change.
 */
public final class OutOfDeviceMemoryException extends RuntimeException {
    private final String device;
    private final long requested, free, total;

    public OutOfDeviceMemoryException(String device, long requested, long free, long total) {
        super(String.format(Locale.ROOT, "out of memory on %s: asked %s in one allocation, %s free of %s", device, bytes(requested),
                bytes(free), bytes(total)));
        this.device = device;
        this.requested = requested;
        this.free = free;
        this.total = total;
    }

    public String device() { return device; }

    public long requested() { return requested; }

    public long free() { return free; }

    public long total() { return total; }

    /** {@code n} bytes in words: "12.0 MiB (12582912 bytes)". */
    public static String bytes(long n) {
        String[] units = {"KiB", "MiB", "GiB", "TiB"};
        if (n < 1024) return n + " bytes";
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
        return String.format(Locale.ROOT, "%.1f %s (%d bytes)", v, units[u], n);
    }
}
