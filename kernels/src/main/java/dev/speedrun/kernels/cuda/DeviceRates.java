package dev.speedrun.kernels.cuda;

import java.util.List;
import java.util.Locale;

/**
 * Peak rates of a GPU for the cost estimate of {@link LaunchProfile}: dense tensor-core FLOP/s
 * for FP8 and BF16 operands, the CUDA-core F32 rate (F32 GEMMs under CUBLAS_COMPUTE_32F and every
 * non-GEMM kernel, which do their math in F32), and memory bandwidth. Vendor datasheet figures
 * (dense, no sparsity):
 *
 * <pre>
 * GPU            FP8 TFLOP/s  BF16 TFLOP/s  F32 TFLOP/s  HBM TB/s
 * H200 (SXM)        1979          989           67         4.8
 * H100 SXM          1979          989           67         3.35
 * H100 PCIe         1513          756           51         2.0
 * A100 SXM (80GB)     —           312           19.5       2.039   (no FP8: the LM head runs BF16)
 * </pre>
 *
 * {@link #forDevice} picks the row by the device name; a name not in the table (and the emulated
 * device) gets the H200 row, saying so in {@link #source}.
 *
 * @param name      the table row
 * @param fp8       FP8 tensor-core FLOP/s (0: none, FP8 GEMMs are counted at the BF16 rate)
 * @param bf16      BF16 tensor-core FLOP/s
 * @param f32       CUDA-core F32 FLOP/s
 * @param bandwidth device memory bytes/s
 * @param source    how the row was chosen
 */
public record DeviceRates(String name, double fp8, double bf16, double f32, double bandwidth, String source) {
    private static final double T = 1e12;
    public static final DeviceRates H200 = new DeviceRates("H200", 1979 * T, 989 * T, 67 * T, 4.8e12, "table");
    public static final DeviceRates H100_SXM = new DeviceRates("H100 SXM", 1979 * T, 989 * T, 67 * T, 3.35e12, "table");
    public static final DeviceRates H100_PCIE = new DeviceRates("H100 PCIe", 1513 * T, 756 * T, 51 * T, 2.0e12, "table");
    public static final DeviceRates A100 = new DeviceRates("A100 SXM", 0, 312 * T, 19.5 * T, 2.039e12, "table");

    /** The rows of the table. */
    public static final List<DeviceRates> TABLE = List.of(H200, H100_SXM, H100_PCIE, A100);

    /** The row for a device called {@code deviceName} (cuDeviceGetName), H200's where none matches. */
    public static DeviceRates forDevice(String deviceName) {
        String n = deviceName.toLowerCase(Locale.ROOT);
        DeviceRates r = n.contains("h200") ? H200 : n.contains("h100") && n.contains("pcie") ? H100_PCIE
                : n.contains("h100") ? H100_SXM : n.contains("a100") ? A100 : null;
        if (r != null) return r.withSource("table row for device '" + deviceName + "'");
        return H200.withSource("device '" + deviceName + "' is not in the table: H200 rates assumed");
    }

    private DeviceRates withSource(String s) { return new DeviceRates(name, fp8, bf16, f32, bandwidth, s); }

    /** FLOP/s of the work of {@code c}: a GEMM at its operand class's tensor-core rate, everything else at the F32 rate. */
    public double flopRate(KernelCost.Cost c) {
        if (c.gemm() == null) return f32;
        return switch (c.gemm()) {
            case FP8 -> fp8 > 0 ? fp8 : bf16;
            case BF16 -> bf16;
            case F32, OTHER -> f32;
        };
    }

    /** Seconds the work of {@code c} takes at peak: the larger of its compute time and its memory time. */
    public double seconds(KernelCost.Cost c) { return Math.max(c.flops() / flopRate(c), c.bytes() / bandwidth); }
}
