package dev.speedrun.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.speedrun.kernels.cuda.Kernel.Arg;
import dev.speedrun.kernels.cuda.Kernel.Ptr;
import dev.speedrun.tensor.Backend;
import dev.speedrun.tensor.DType;
import dev.speedrun.tensor.Shape;
import dev.speedrun.tensor.Tensor;
import dev.speedrun.testsupport.FakeDeviceMemory;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A stand-in GPU: storage gets distinct fake device addresses (no memory), and every launch is
 * validated and recorded instead of run. Validation: argument kinds ({@link Kernel#checkArgs}),
 * launch limits, every pointer inside a known allocation, and every pointer's dtype code (the
 * {@code ...dt} parameter after it) equal to the dtype of the tensor the test put at that address.
 */
final class FakeDevice implements CudaDevice {
    record Launch(Kernel kernel, Dim3 grid, Dim3 block, Object[] args) {
        Object arg(String name) { return args[kernel.paramNames().indexOf(name)]; }
    }

    final List<Launch> launches = new ArrayList<>();
    private final Map<Long, DType> dtypeAt = new HashMap<>();
    private final Map<Integer, Tensor> scratch = new HashMap<>();
    final Gemm gemm;

    /** The bytes last uploaded to each address (an op may upload small parameters, e.g. the loss's MTP weights). */
    final Map<Long, byte[]> uploads = new HashMap<>();
    int uploadCount;

    final FakeDeviceMemory backend = new FakeDeviceMemory("fakecuda") {
        @Override public void copyFromHost(Tensor dst, java.lang.foreign.MemorySegment src) {
            if (!contains(dst.address(), dst.address() + dst.byteSize())) fail("copyFromHost: " + dst + " is outside every allocation");
            uploads.put(dst.address(), src.asSlice(0, dst.byteSize()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
            uploadCount++;
        }
    };

    /** The F32 values last uploaded to {@code p}. */
    float[] uploadedFloats(Ptr p) {
        byte[] b = uploads.get(p.address());
        if (b == null) fail("nothing was uploaded to " + p);
        return java.lang.foreign.MemorySegment.ofArray(b).toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED);
    }

    FakeDevice(Gemm gemm) { this.gemm = gemm; }

    /** A tensor at its own fake address. */
    Tensor tensor(DType dtype, long... dims) {
        Shape s = Shape.of(dims);
        Tensor t = new Tensor(backend.allocate(Math.max(1, s.numel() * dtype.byteSize())), dtype, 0, s);
        dtypeAt.put(t.address(), dtype);
        return t;
    }

    @Override public Backend backend() { return backend; }

    @Override public int computeCapability() { return 90; }

    @Override public void launch(Kernel kernel, Dim3 grid, Dim3 block, int sharedBytes, Object... args) {
        kernel.checkArgs(args);
        long threads = (long) block.x() * block.y() * block.z();
        assertTrue(threads <= 1024 && threads % 32 == 0, kernel + ": block " + block + " is not a multiple of 32 up to 1024 threads");
        assertTrue(grid.y() <= 65535 && grid.z() <= 65535, kernel + ": grid " + grid + " exceeds y/z limits");
        assertEquals(0, sharedBytes, kernel + ": kernels use static shared memory only");
        List<String> names = kernel.paramNames();
        for (int i = 0; i < args.length; i++) {
            if (kernel.params().get(i) != Arg.PTR) continue;
            long a = ((Ptr) args[i]).address();
            if (a == 0) continue;
            if (!backend.contains(a)) fail(kernel + " argument " + names.get(i) + " points outside every allocation");
            if (i + 1 < args.length && names.get(i + 1).endsWith("dt") && dtypeAt.containsKey(a)) {
                int code = (Integer) args[i + 1];
                DType want = dtypeAt.get(a);
                int expected = want == DType.BF16 ? 1 : 0;
                assertEquals(expected, code, kernel + ": " + names.get(i + 1) + " does not match the " + want + " tensor passed as " + names.get(i));
            }
        }
        launches.add(new Launch(kernel, grid, block, args));
        if (observer != null) observer.launch(kernel, grid, block, args);
    }

    @Override public Tensor scratch(int slot, long floats) {
        Tensor t = scratch.get(slot);
        if (t == null || t.numel() < floats) {
            t = tensor(DType.F32, Math.max(floats, 1));
            scratch.put(slot, t);
        }
        return t;
    }

    @Override public Gemm gemm() { return gemm; }

    @Override public void synchronize() {
        if (observer != null) observer.hostSync(DeviceObserver.HostSync.STREAM_SYNCHRONIZE);
    }

    private DeviceObserver observer;

    @Override public String name() { return "fake H200 (recording)"; }

    @Override public void observe(DeviceObserver o) { observer = o; }
}
