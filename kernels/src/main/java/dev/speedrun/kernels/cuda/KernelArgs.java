package dev.speedrun.kernels.cuda;

import dev.speedrun.kernels.cuda.Kernel.MtpWeights;
import dev.speedrun.kernels.cuda.Kernel.Ptr;
import java.util.ArrayList;
import java.util.List;

/**
 * The one argument packing of kernel launches, used by the GPU ({@link JCudaDevice}) and by the
 * CPU emulation ({@code emu.EmuDevice}): checks the Java arguments against the kernel table and
 * hands each to a {@link Packer} by its C parameter kind, in order. A packer makes what its
 * driver wants as one entry of cuLaunchKernel's parameter pointer array.
 */
public final class KernelArgs {
    private KernelArgs() {}

    /** Makes one parameter entry (a pointer to the value) for each C kind. */
    public interface Packer<P> {
        P ptr(long address);

        P i32(int value);

        P i64(long value);

        P f32(float value);

        /** The 32-byte {@code struct MtpWeights} passed by value. */
        P mtp(float[] weights);
    }

    /** The parameter entries of a launch of {@code kernel} with {@code args}; throws naming a mismatch. */
    public static <P> List<P> pack(Kernel kernel, Object[] args, Packer<P> packer) {
        kernel.checkArgs(args);
        List<P> out = new ArrayList<>(args.length);
        for (int i = 0; i < args.length; i++) {
            out.add(switch (kernel.params().get(i)) {
                case PTR -> packer.ptr(((Ptr) args[i]).address());
                case I32 -> packer.i32((Integer) args[i]);
                case I64 -> packer.i64((Long) args[i]);
                case F32 -> packer.f32((Float) args[i]);
                case MTP -> packer.mtp(((MtpWeights) args[i]).w());
            });
        }
        return out;
    }
}
