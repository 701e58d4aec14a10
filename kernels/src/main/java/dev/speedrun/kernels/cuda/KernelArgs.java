package dev.speedrun.kernels.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.speedrun.kernels.cuda.Kernel.Ptr;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The one argument packing of kernel launches, used by the GPU ({@link JCudaDevice}) and by the
 * CPU emulation ({@code emu.EmuDevice}): checks the Java arguments against the kernel table and
 * stores each by its C parameter kind, in order, into cuLaunchKernel's parameter array
 * ({@link Slots}: one native block per kernel, written in place).
 */
public final class KernelArgs {
    private KernelArgs() {}

    /**
     * cuLaunchKernel's {@code void** kernelParams} for one kernel, made once: a value slot per
     * parameter (8 bytes each) and the array of pointers to the slots.
     * {@link #write} checks a launch's arguments and stores them in the slots, allocating nothing,
     * so a launch costs no garbage and no native allocation. One per kernel and device; the device
     * launches from one thread at a time, and the driver copies the values at the launch call.
     */
    public static final class Slots {
        private final Kernel kernel;
        private final MemorySegment values;
        private final MemorySegment pointers;
        private final long[] offsets;

        public Slots(Kernel kernel, Arena arena) {
            this.kernel = kernel;
            List<Kernel.Arg> kinds = kernel.params();
            offsets = new long[kinds.size()];
            long off = 0;
            for (int i = 0; i < kinds.size(); i++) {
                offsets[i] = off;
                off += 8;
            }
            values = arena.allocate(Math.max(8, off), 16);
            pointers = arena.allocate(ADDRESS, Math.max(1, kinds.size()));
            for (int i = 0; i < kinds.size(); i++) pointers.setAtIndex(ADDRESS, i, values.asSlice(offsets[i]));
        }

        /** Checks {@code args} against the kernel's table entry and stores them; throws naming a mismatch. */
        public MemorySegment write(Object[] args) {
            kernel.checkArgs(args);
            List<Kernel.Arg> kinds = kernel.params();
            for (int i = 0; i < args.length; i++) {
                long o = offsets[i];
                switch (kinds.get(i)) {
                    case PTR -> values.set(JAVA_LONG, o, ((Ptr) args[i]).address());
                    case I32 -> values.set(JAVA_INT, o, (Integer) args[i]);
                    case I64 -> values.set(JAVA_LONG, o, (Long) args[i]);
                    case F32 -> values.set(JAVA_FLOAT, o, (Float) args[i]);
                }
            }
            return pointers;
        }

        /** The parameter pointer array ({@code void**}), valid after {@link #write}. */
        public MemorySegment pointers() { return pointers; }

        /** The value slots the pointers point at (a whole number of 8-byte slots): what a launch queue records and writes back. */
        public MemorySegment values() { return values; }
    }
}
