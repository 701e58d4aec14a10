package dev.speedrun.kernels.cuda;

import static dev.speedrun.kernels.cuda.Kernel.Arg.F32;
import static dev.speedrun.kernels.cuda.Kernel.Arg.I32;
import static dev.speedrun.kernels.cuda.Kernel.Arg.I64;
import static dev.speedrun.kernels.cuda.Kernel.Arg.MTP;
import static dev.speedrun.kernels.cuda.Kernel.Arg.PTR;

import java.util.List;

/**
 * Every {@code extern "C" __global__} kernel of kernels/src/main/cuda: the module (file stem) it
 * lives in, its C name, and its parameters in order. {@code KernelSignatureTest} parses the .cu
 * files and fails when this table and the sources disagree; {@link #checkArgs} rejects a launch
 * whose Java arguments do not match it, so a wrong argument list fails before reaching the GPU.
 */
public enum Kernel {
    ATTN_FWD("attention", "attn_fwd", "out odt lse q qdt k kdt v vdt cu S T H D window scale",
            PTR, I32, PTR, PTR, I32, PTR, I32, PTR, I32, PTR, I32, I32, I32, I32, I32, F32),
    ATTN_BWD_DELTA("attention", "attn_bwd_delta", "delta dout ddt out odt T H D",
            PTR, PTR, I32, PTR, I32, I32, I32, I32),
    ATTN_BWD_DQ("attention", "attn_bwd_dq", "dq dqdt dout ddt q qdt k kdt v vdt lse delta cu S T H D window scale",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, PTR, PTR, I32, I32, I32, I32, I32, F32),
    ATTN_BWD_DKV("attention", "attn_bwd_dkv", "dk dkdt dv dvdt dout ddt q qdt k kdt v vdt lse delta cu S T H D window scale",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, PTR, PTR, I32, I32, I32, I32, I32, F32),
    EW_FILL("elementwise", "ew_fill", "out odt n value",
            PTR, I32, I64, F32),
    EW_CONVERT("elementwise", "ew_convert", "out odt x xdt n",
            PTR, I32, PTR, I32, I64),
    EW_ADD("elementwise", "ew_add", "out odt x xdt y ydt n",
            PTR, I32, PTR, I32, PTR, I32, I64),
    EW_MIX("elementwise", "ew_mix", "out odt x xdt a adt ca y ydt b bdt cb n",
            PTR, I32, PTR, I32, PTR, I32, F32, PTR, I32, PTR, I32, F32, I64),
    EW_SCALED_ACC("elementwise", "ew_scaled_acc", "dx dxdt dout ddt a adt c n",
            PTR, I32, PTR, I32, PTR, I32, F32, I64),
    EW_SIGMOID("elementwise", "ew_sigmoid", "out odt x xdt n",
            PTR, I32, PTR, I32, I64),
    EW_SIGMOID_BACKWARD("elementwise", "ew_sigmoid_backward", "dx dxdt dout ddt y ydt n",
            PTR, I32, PTR, I32, PTR, I32, I64),
    EW_RELU_SQUARED("elementwise", "ew_relu_squared", "out odt x xdt n",
            PTR, I32, PTR, I32, I64),
    EW_RELU_SQUARED_BACKWARD("elementwise", "ew_relu_squared_backward", "dx dxdt dout ddt x xdt n",
            PTR, I32, PTR, I32, PTR, I32, I64),
    EW_TOKEN_MASK("elementwise", "ew_token_mask", "out odt tokens value ifEqual otherwise n",
            PTR, I32, PTR, I32, F32, F32, I64),
    EW_QUANTIZE_FP8("elementwise", "ew_quantize_fp8", "out fmt x xdt scale n",
            PTR, I32, PTR, I32, PTR, I64),
    EW_TRANSPOSE("elementwise", "ew_transpose", "out odt x xdt B R C",
            PTR, I32, PTR, I32, I32, I32, I32),
    EMBEDDING_FWD("embedding", "embedding_fwd", "out odt table tdt tokens T C V",
            PTR, I32, PTR, I32, PTR, I32, I32, I32),
    EMBEDDING_BWD("embedding", "embedding_bwd", "dtable dtdt dout ddt tokens T C V",
            PTR, I32, PTR, I32, PTR, I32, I32, I32),
    HEAD_GATE_FWD("gates", "head_gate_fwd", "out odt gate y ydt x xdt w wdt T H D C G",
            PTR, I32, PTR, PTR, I32, PTR, I32, PTR, I32, I32, I32, I32, I32, I32),
    HEAD_GATE_BWD_DY("gates", "head_gate_bwd_dy", "dy dydt gp dout ddt y ydt gate T H D",
            PTR, I32, PTR, PTR, I32, PTR, I32, PTR, I32, I32, I32),
    HEAD_GATE_BWD_DX("gates", "head_gate_bwd_dx", "dx dxdt gp w wdt T H C G",
            PTR, I32, PTR, PTR, I32, I32, I32, I32, I32),
    HEAD_GATE_BWD_DW("gates", "head_gate_bwd_dw", "dw dwdt gp x xdt T H C G",
            PTR, I32, PTR, PTR, I32, I32, I32, I32, I32),
    SMEAR_FWD("gates", "smear_fwd", "out odt gate x xdt w wdt lambda ldt T C G",
            PTR, I32, PTR, PTR, I32, PTR, I32, PTR, I32, I32, I32, I32),
    SMEAR_BWD_DOT("gates", "smear_bwd_dot", "dotp dout ddt x xdt T C",
            PTR, PTR, I32, PTR, I32, I32, I32),
    SMEAR_BWD_DX("gates", "smear_bwd_dx", "dx dxdt dout ddt w wdt lambda ldt gate dotp T C G",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, PTR, I32, I32, I32),
    SMEAR_BWD_PARAMS("gates", "smear_bwd_params", "dw dwdt dlambda dldt x xdt lambda ldt gate dotp T C G",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, PTR, PTR, I32, I32, I32),
    GEMM_TILED("gemm", "gemm_tiled", "out odt a adt b bdt M N K transA transB strideA strideB strideOut alpha beta",
            PTR, I32, PTR, I32, PTR, I32, I32, I32, I32, I32, I32, I64, I64, I64, F32, F32),
    SOFTCAP_CE("loss", "softcap_ce", "losses lossdt dlogits dldt logits zdt targets tw twdt mw K T V cap divisor gradScale",
            PTR, I32, PTR, I32, PTR, I32, PTR, PTR, I32, MTP, I32, I32, I32, F32, F32, F32),
    RMS_NORM_FWD("norms", "rms_norm_fwd", "out odt rrms x xdt R C eps",
            PTR, I32, PTR, PTR, I32, I32, I32, F32),
    RMS_NORM_BWD("norms", "rms_norm_bwd", "dx dxdt dout ddt x xdt rrms R C",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, I32),
    ADAM_STEP("optim", "adam_step", "p pdt g gdt m mdt v vdt n beta1 beta2 eps stepScale decay mask",
            PTR, I32, PTR, I32, PTR, I32, PTR, I32, I64, F32, F32, F32, F32, F32, I32),
    MUON_MOMENTUM("optim", "muon_momentum", "update udt buf bdt g gdt n momentum",
            PTR, I32, PTR, I32, PTR, I32, I64, F32),
    DECAYED_UPDATE("optim", "decayed_update", "p pdt v vdt n lr decay mask",
            PTR, I32, PTR, I32, I64, F32, F32, I32),
    RED_PARTIAL("reductions", "red_partial", "partials x xdt y ydt n mode",
            PTR, PTR, I32, PTR, I32, I64, I32),
    RED_FINISH("reductions", "red_finish", "out odt partials nparts coef accumulate",
            PTR, I32, PTR, I32, F32, I32),
    FROB_PARTIAL("reductions", "frob_partial", "partials x xdt perMatrix",
            PTR, PTR, I32, I64),
    FROB_SCALE("reductions", "frob_scale", "out odt x xdt partials parts perMatrix factor eps",
            PTR, I32, PTR, I32, PTR, I32, I64, F32, F32),
    VR_ROWS("reductions", "vr_rows", "mu rho v vdt s2 s2dt C beta2",
            PTR, PTR, PTR, I32, PTR, I32, I32, F32),
    VR_MATRIX("reductions", "vr_matrix", "scale mu rho R C",
            PTR, PTR, PTR, I32, I32),
    VR_APPLY("reductions", "vr_apply", "v vdt rho scale R C",
            PTR, I32, PTR, PTR, I32, I32),
    ROTARY("rotary", "rotary", "out odt x xdt freqs fdt T H D sign accumulate",
            PTR, I32, PTR, I32, PTR, I32, I32, I32, I32, F32, I32),
    KEY_SHIFT("rotary", "key_shift", "out odt x xdt T H D",
            PTR, I32, PTR, I32, I32, I32, I32),
    KEY_SHIFT_BWD("rotary", "key_shift_bwd", "dx dxdt dout ddt T H D",
            PTR, I32, PTR, I32, I32, I32, I32);

    /** C parameter kinds: pointer, int, long long, float, and the 32-byte MtpWeights struct. */
    public enum Arg {
        PTR, I32, I64, F32, MTP;

        /** The Java argument type a launch passes for this kind. */
        Class<?> javaType() {
            return switch (this) {
                case PTR -> Ptr.class;
                case I32 -> Integer.class;
                case I64 -> Long.class;
                case F32 -> Float.class;
                case MTP -> MtpWeights.class;
            };
        }
    }

    /** A device pointer argument (0 = nullptr). */
    public record Ptr(long address) {
        public static final Ptr NULL = new Ptr(0);
    }

    /** The kernels' {@code struct MtpWeights { float w[8]; }}, passed by value. */
    public record MtpWeights(float[] w) {
        public static final int MAX = 8;

        public MtpWeights {
            if (w.length != MAX) throw new IllegalArgumentException("MtpWeights needs " + MAX + " floats, got " + w.length);
        }
    }

    private final String module;
    private final String cName;
    private final List<String> paramNames;
    private final List<Arg> params;

    Kernel(String module, String cName, String paramNames, Arg... params) {
        this.module = module;
        this.cName = cName;
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
