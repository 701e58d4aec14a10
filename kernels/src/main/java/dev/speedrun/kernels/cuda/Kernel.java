package dev.speedrun.kernels.cuda;

import static dev.speedrun.kernels.cuda.Kernel.Arg.F32;
import static dev.speedrun.kernels.cuda.Kernel.Arg.I32;
import static dev.speedrun.kernels.cuda.Kernel.Arg.I64;
import static dev.speedrun.kernels.cuda.Kernel.Arg.PTR;

import java.util.List;
import java.util.Locale;

/**
 * Every {@code extern "C" __global__} kernel of kernels/src/main/cuda: the module (file stem, the
 * op family) it lives in and its parameters in order. The constant is the C name in upper case,
 * and the C name is the snake_case of the {@link dev.speedrun.kernels.Ops} method the kernel
 * serves, or of a GPU-only public {@link CudaOps} method, plus one of the
 * suffixes {@code KernelSignatureTest} lists for ops that take several kernels ({@code _dq},
 * {@code _partial}, ...), and optionally {@code _mma} last for the tensor-core variant of a kernel. That test parses the .cu files and fails when this table and the
 * sources disagree or a kernel is named otherwise; {@link #checkArgs} rejects a launch
 * whose Java arguments do not match it, so a wrong argument list fails before reaching the GPU.
 */
public enum Kernel {
    ATTENTION("attention", "out odt lse q qdt k kdt v vdt cu S T H D window scale",
            PTR, I32, PTR, PTR, I32, PTR, I32, PTR, I32, PTR, I32, I32, I32, I32, I32, F32),
    ATTENTION_BACKWARD_DELTA("attention", "delta dout ddt out odt T H D",
            PTR, PTR, I32, PTR, I32, I32, I32, I32),
    ATTENTION_BACKWARD_DQ("attention", "dq dqdt dout ddt q qdt k kdt v vdt lse delta cu S T H D window scale",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, PTR, PTR, I32, I32, I32, I32, I32, F32),
    ATTENTION_BACKWARD_DKV("attention", "dk dkdt dv dvdt dout ddt q qdt k kdt v vdt lse delta cu S T H D window scale",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, PTR, PTR, I32, I32, I32, I32, I32, F32),
    // The tensor-core (mma.sync) variants of the three above, same parameters: BF16 q, k, v
    // (CudaOps.attentionOnTensorCores says when they run).
    ATTENTION_MMA("attention", "out odt lse q qdt k kdt v vdt cu S T H D window scale",
            PTR, I32, PTR, PTR, I32, PTR, I32, PTR, I32, PTR, I32, I32, I32, I32, I32, F32),
    ATTENTION_BACKWARD_DQ_MMA("attention", "dq dqdt dout ddt q qdt k kdt v vdt lse delta cu S T H D window scale",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, PTR, PTR, I32, I32, I32, I32, I32, F32),
    ATTENTION_BACKWARD_DKV_MMA("attention", "dk dkdt dv dvdt dout ddt q qdt k kdt v vdt lse delta cu S T H D window scale",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, PTR, PTR, I32, I32, I32, I32, I32, F32),
    FILL("elementwise", "out odt n value",
            PTR, I32, I64, F32),
    CONVERT("elementwise", "out odt x xdt n",
            PTR, I32, PTR, I32, I64),
    ADD("elementwise", "out odt x xdt y ydt n",
            PTR, I32, PTR, I32, PTR, I32, I64),
    MIX("elementwise", "out odt x xdt a adt ca y ydt b bdt cb n",
            PTR, I32, PTR, I32, PTR, I32, F32, PTR, I32, PTR, I32, F32, I64),
    MIX_BACKWARD_DX("elementwise", "dx dxdt dout ddt a adt c n",
            PTR, I32, PTR, I32, PTR, I32, F32, I64),
    SIGMOID("elementwise", "out odt x xdt n",
            PTR, I32, PTR, I32, I64),
    SIGMOID_BACKWARD("elementwise", "dx dxdt dout ddt y ydt n",
            PTR, I32, PTR, I32, PTR, I32, I64),
    RELU_SQUARED("elementwise", "out odt x xdt n",
            PTR, I32, PTR, I32, I64),
    RELU_SQUARED_BACKWARD("elementwise", "dx dxdt dout ddt x xdt n",
            PTR, I32, PTR, I32, PTR, I32, I64),
    TOKEN_MASK("elementwise", "out odt tokens value ifEqual otherwise n",
            PTR, I32, PTR, I32, F32, F32, I64),
    QUANTIZE_FP8("elementwise", "out fmt x xdt scale rows cols pitch transpose",
            PTR, I32, PTR, I32, PTR, I64, I64, I64, I32),
    SUM_PARTIAL("elementwise", "partials x xdt y ydt n mode",
            PTR, PTR, I32, PTR, I32, I64, I32),
    SUM_FINISH("elementwise", "out odt partials nparts coef accumulate",
            PTR, I32, PTR, I32, F32, I32),
    EMBEDDING("embedding", "out odt table tdt tokens T C V",
            PTR, I32, PTR, I32, PTR, I32, I32, I32),
    EMBEDDING_BACKWARD("embedding", "dtable dtdt dout ddt tokens T C V",
            PTR, I32, PTR, I32, PTR, I32, I32, I32),
    EMBEDDING_BACKWARD_APPLY("embedding", "dtable dtdt acc tokens T C V",
            PTR, I32, PTR, PTR, I32, I32, I32),
    ADD_EMBEDDING("fused", "out odt x xdt table tdt tokens T C V",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, I32, I32),
    HEAD_GATE_SCALED("fused", "out odt gate scaled scdt s sdt y ydt x xdt w wdt T H D C G",
            PTR, I32, PTR, PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, I32, I32, I32, I32, I32, I32),
    MIX_BACKWARD_PARTIAL("fused", "partials dx dxdt dy dydt dout ddt x xdt a adt ca y ydt b bdt cb n parts",
            PTR, PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, I32, F32, PTR, I32, PTR, I32, F32, I64, I32),
    MIX_BACKWARD_FINISH("fused", "da dadt db dbdt partials parts ca cb",
            PTR, I32, PTR, I32, PTR, I32, F32, F32),
    MIX_RMS_NORM("fused", "out odt norm ndt rrms scaled scdt s sdt x xdt a adt ca y ydt b bdt cb R C eps",
            PTR, I32, PTR, I32, PTR, PTR, I32, PTR, I32, PTR, I32, PTR, I32, F32, PTR, I32, PTR, I32, F32, I32, I32, F32),
    RMS_NORM_ROTARY("fused", "out odt rrms x xdt freqs fdt T H D eps shift",
            PTR, I32, PTR, PTR, I32, PTR, I32, I32, I32, I32, F32, I32),
    RMS_NORM_ROTARY_BACKWARD("fused", "dx dxdt dout ddt x xdt rrms freqs fdt T H D shift",
            PTR, I32, PTR, I32, PTR, I32, PTR, PTR, I32, I32, I32, I32, I32),
    HEAD_GATE("gates", "out odt gate y ydt x xdt w wdt T H D C G",
            PTR, I32, PTR, PTR, I32, PTR, I32, PTR, I32, I32, I32, I32, I32, I32),
    HEAD_GATE_BACKWARD_DY("gates", "dy dydt gp dout ddt y ydt gate T H D",
            PTR, I32, PTR, PTR, I32, PTR, I32, PTR, I32, I32, I32),
    HEAD_GATE_BACKWARD_DX("gates", "dx dxdt gp w wdt T H C G",
            PTR, I32, PTR, PTR, I32, I32, I32, I32, I32),
    HEAD_GATE_BACKWARD_DW("gates", "dw dwdt gp x xdt T H C G",
            PTR, I32, PTR, PTR, I32, I32, I32, I32, I32),
    SMEAR("gates", "out odt gate x xdt w wdt lambda ldt T C G",
            PTR, I32, PTR, PTR, I32, PTR, I32, PTR, I32, I32, I32, I32),
    SMEAR_BACKWARD_DOT("gates", "dotp dout ddt x xdt T C",
            PTR, PTR, I32, PTR, I32, I32, I32),
    SMEAR_BACKWARD_DX("gates", "dx dxdt dout ddt w wdt lambda ldt gate dotp T C G",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, PTR, I32, I32, I32),
    SMEAR_BACKWARD_PARAMS("gates", "dw dwdt dlambda dldt x xdt lambda ldt gate dotp T C G",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, PTR, I32, I32, I32),
    MATMUL_FP8("gemm", "out odt a afmt b bfmt aScale bScale M N K beta",
            PTR, I32, PTR, I32, PTR, I32, PTR, PTR, I32, I32, I32, F32),
    MATMUL_TILED("gemm", "out odt a adt b bdt M N K transA transB strideA strideB strideOut alpha beta",
            PTR, I32, PTR, I32, PTR, I32, I32, I32, I32, I32, I32, I64, I64, I64, F32, F32),
    SOFTCAP_CROSS_ENTROPY("loss", "losses lossdt dlogits dldt logits zdt targets tw twdt mw K T V cap divisor gradScale",
            PTR, I32, PTR, I32, PTR, I32, PTR, PTR, I32, PTR, I32, I32, I32, F32, F32, F32),
    RMS_NORM("norms", "out odt rrms x xdt R C eps",
            PTR, I32, PTR, PTR, I32, I32, I32, F32),
    RMS_NORM_BACKWARD("norms", "dx dxdt dout ddt x xdt rrms R C",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, I32),
    ADAM_STEP("optimizer", "p pdt g gdt m mdt v vdt n beta1 beta2 eps stepScale decay mask",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, I64, F32, F32, F32, F32, F32, I32),
    MUON_MOMENTUM("optimizer", "update udt buf bdt g gdt n momentum",
            PTR, I32, PTR, I32, PTR, I32, I64, F32),
    DECAYED_UPDATE("optimizer", "p pdt v vdt n lr decay mask",
            PTR, I32, PTR, I32, I64, F32, F32, I32),
    FROBENIUS_NORMALIZE_PARTIAL("optimizer", "partials x xdt perMatrix",
            PTR, PTR, I32, I64),
    FROBENIUS_NORMALIZE_SCALE("optimizer", "out odt x xdt partials parts perMatrix factor eps",
            PTR, I32, PTR, I32, PTR, I32, I64, F32, F32),
    VARIANCE_REDUCE_ROWS("optimizer", "mu rho v vdt s2 s2dt C beta2",
            PTR, PTR, PTR, I32, PTR, I32, I32, F32),
    VARIANCE_REDUCE_MATRIX("optimizer", "scale mu rho R C",
            PTR, PTR, PTR, I32, I32),
    VARIANCE_REDUCE_APPLY("optimizer", "v vdt rho scale R C",
            PTR, I32, PTR, PTR, I32, I32),
    ROTARY("rotary", "out odt x xdt freqs fdt T H D sign accumulate",
            PTR, I32, PTR, I32, PTR, I32, I32, I32, I32, F32, I32),
    KEY_SHIFT("rotary", "out odt x xdt T H D",
            PTR, I32, PTR, I32, I32, I32, I32),
    KEY_SHIFT_BACKWARD("rotary", "dx dxdt dout ddt T H D",
            PTR, I32, PTR, I32, I32, I32, I32);

    /** C parameter kinds: pointer, int, long long, float. */
    public enum Arg {
        PTR, I32, I64, F32;

        /** The Java argument type a launch passes for this kind. */
        Class<?> javaType() {
            return switch (this) {
                case PTR -> Ptr.class;
                case I32 -> Integer.class;
                case I64 -> Long.class;
                case F32 -> Float.class;
            };
        }
    }

    /** A device pointer argument (0 = nullptr). */
    public record Ptr(long address) {
        public static final Ptr NULL = new Ptr(0);
    }

    private final String module;
    private final String cName;
    private final List<String> paramNames;
    private final List<Arg> params;

    Kernel(String module, String paramNames, Arg... params) {
        this.module = module;
        this.cName = name().toLowerCase(Locale.ROOT);
        this.paramNames = List.of(paramNames.split(" "));
        this.params = List.of(params);
        if (this.paramNames.size() != params.length) throw new AssertionError(cName + ": names and types differ in count");
    }

    /** File stem of the .cu file, also the name of its fatbin resource. */
    public String module() { return module; }

    public String cName() { return cName; }

    public List<String> paramNames() { return paramNames; }

    public List<Arg> params() { return params; }

    /** Throws naming the kernel, the parameter and both types when {@code args} do not match. */
    public void checkArgs(Object... args) {
        if (args.length != params.size())
            throw new IllegalArgumentException(cName + " takes " + params.size() + " arguments " + paramNames + ", got " + args.length);
        for (int i = 0; i < args.length; i++) {
            Class<?> want = params.get(i).javaType();
            if (args[i] == null || args[i].getClass() != want)
                throw new IllegalArgumentException(cName + " argument " + i + " (" + paramNames.get(i) + ") must be "
                        + want.getSimpleName() + ", got " + (args[i] == null ? "null" : args[i].getClass().getSimpleName()));
        }
    }
}
