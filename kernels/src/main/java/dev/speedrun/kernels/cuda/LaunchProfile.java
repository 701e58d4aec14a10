package dev.speedrun.kernels.cuda;

import dev.speedrun.kernels.DeviceProfile;
import dev.speedrun.kernels.cuda.CudaDevice.Dim3;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.IntToDoubleFunction;

/**
 * What a device did during profiled training steps, per phase (the micro-steps' forward+backward,
 * the optimizer step) and per kernel family (the .cu file of a kernel, {@code cublaslt} for the
 * vendor GEMMs): launches, FLOPs and bytes from each launch's shapes ({@link KernelCost}), GEMM
 * FLOPs by operand class, the host synchronisations, and the time all of it takes at the device's
 * peak rates ({@link DeviceRates}). Attach it with {@link DeviceProfile#attach} (or
 * {@link CudaDevice#observe}), mark the phases with {@link #phase}, count the steps with
 * {@link #endStep}, then {@link #write} the JSON.
 */
public final class LaunchProfile implements DeviceObserver, DeviceProfile {

    /** Running totals of one family (or a whole phase). */
    public static final class Totals {
        long launches;
        double flops, bytes, seconds;

        void add(KernelCost.Cost c, DeviceRates rates) {
            launches++;
            flops += c.flops();
            bytes += c.bytes();
            seconds += rates.seconds(c);
        }

        public long launches() { return launches; }

        public double flops() { return flops; }

        public double bytes() { return bytes; }

        public double seconds() { return seconds; }
    }

    private static final class PhaseTotals {
        final Totals all = new Totals();
        final Map<String, Totals> families = new TreeMap<>();
        final Map<KernelCost.GemmClass, Double> gemmFlops = new EnumMap<>(KernelCost.GemmClass.class);
        final Map<HostSync, Long> syncs = new EnumMap<>(HostSync.class);
        long hostSyncs;
        /** What reached the driver ({@link DriverCall}): launches sent one by one, graphs captured and launched. */
        final Map<DriverCall, Long> driver = new EnumMap<>(DriverCall.class);

        long driver(DriverCall c) { return driver.getOrDefault(c, 0L); }

        /** Driver calls that run work: the eager launches plus the graph launches. */
        long driverLaunches() { return driver(DriverCall.EAGER_LAUNCH) + driver(DriverCall.GRAPH_LAUNCH); }
    }

    private final String device;
    private final DeviceRates rates;
    private final Runnable detach;
    private final Map<Phase, PhaseTotals> phases = new EnumMap<>(Phase.class);
    private Phase phase = Phase.OTHER;
    private KernelCost.AttentionKeys keys;
    private long microSteps, steps, tokens;

    /** A profile not attached to a device (tests feed it directly). */
    public LaunchProfile(String deviceName, DeviceRates rates) { this(deviceName, rates, () -> {}); }

    /** A profile whose {@link #close} runs {@code detach} (stops the device reporting to it). */
    public LaunchProfile(String deviceName, DeviceRates rates, Runnable detach) {
        this.device = deviceName;
        this.rates = rates;
        this.detach = detach;
        for (Phase p : Phase.values()) phases.put(p, new PhaseTotals());
    }

    @Override public synchronized void phase(Phase p) { phase = p; }

    @Override public synchronized void attentionKeys(IntToDoubleFunction k) { keys = k == null ? null : k::applyAsDouble; }

    @Override public synchronized void endMicroStep(int tokensInMicroStep) {
        microSteps++;
        tokens += tokensInMicroStep;
    }

    @Override public synchronized void endStep() { steps++; }

    @Override public String ratesName() { return rates.name(); }

    @Override public synchronized long launches(Phase p) { return phases.get(p).all.launches; }

    @Override public void close() { detach.run(); }

    @Override public synchronized void launch(Kernel kernel, Dim3 grid, Dim3 block, Object[] args) {
        record(kernel.module(), KernelCost.of(kernel, grid, args, keys));
    }

    @Override public synchronized void gemm(Gemm g) { record("cublaslt", KernelCost.of(g)); }

    private void record(String family, KernelCost.Cost c) {
        PhaseTotals p = phases.get(phase);
        p.all.add(c, rates);
        p.families.computeIfAbsent(family, f -> new Totals()).add(c, rates);
        if (c.gemm() != null) p.gemmFlops.merge(c.gemm(), c.flops(), Double::sum);
    }

    @Override public synchronized void driverCall(DriverCall call) { phases.get(phase).driver.merge(call, 1L, Long::sum); }

    /** Driver calls of kind {@code c} in phase {@code p}. */
    public synchronized long driverCalls(Phase p, DriverCall c) { return phases.get(p).driver(c); }

    /** Kernel launches and GEMMs sent one by one plus graph launches, per micro-step. */
    @Override public synchronized double driverLaunchesPerMicroStep() { return per(phases.get(Phase.MICRO_STEP).driverLaunches(), microSteps); }

    /** Graphs launched in all phases (replays of a cached segment, the launch right after its capture included). */
    @Override public synchronized long graphReplays() {
        long n = 0;
        for (PhaseTotals p : phases.values()) n += p.driver(DriverCall.GRAPH_LAUNCH);
        return n;
    }

    /** Graphs captured in all phases. */
    public synchronized long graphCaptures() {
        long n = 0;
        for (PhaseTotals p : phases.values()) n += p.driver(DriverCall.GRAPH_CAPTURE);
        return n;
    }

    @Override public synchronized void hostSync(HostSync kind) {
        PhaseTotals p = phases.get(phase);
        p.hostSyncs++;
        p.syncs.merge(kind, 1L, Long::sum);
    }

    /** Totals of phase {@code p} (over everything profiled). */
    public synchronized Totals totals(Phase p) { return phases.get(p).all; }

    /** Totals of family {@code family} in phase {@code p}, or empty totals. */
    public synchronized Totals family(Phase p, String family) { return phases.get(p).families.getOrDefault(family, new Totals()); }

    /** GEMM FLOPs of operand class {@code c} in phase {@code p}. */
    public synchronized double gemmFlops(Phase p, KernelCost.GemmClass c) { return phases.get(p).gemmFlops.getOrDefault(c, 0.0); }

    @Override public synchronized double launchesPerMicroStep() { return per(totals(Phase.MICRO_STEP).launches, microSteps); }

    /** Host synchronisations of all phases per step. */
    @Override public synchronized double hostSyncsPerStep() {
        long n = 0;
        for (PhaseTotals p : phases.values()) n += p.hostSyncs;
        return per(n, steps);
    }

    /** Share of all GEMM FLOPs (micro-steps and optimizer) with operands of class {@code c}. */
    public synchronized double gemmFlopFraction(KernelCost.GemmClass c) {
        double all = 0, of = 0;
        for (PhaseTotals p : phases.values())
            for (var e : p.gemmFlops.entrySet()) {
                all += e.getValue();
                if (e.getKey() == c) of += e.getValue();
            }
        return all == 0 ? 0 : of / all;
    }

    /** Estimated device time of everything profiled at peak rates, per token trained. */
    @Override public synchronized double estimatedMicrosPerToken() {
        double s = 0;
        for (PhaseTotals p : phases.values()) s += p.all.seconds;
        return tokens == 0 ? 0 : s * 1e6 / tokens;
    }

    private static double per(double n, long d) { return d == 0 ? 0 : n / d; }

    /** The profile as JSON (format in docs/cuda.md, "Profile"). */
    @Override public synchronized String json() {
        StringBuilder b = new StringBuilder();
        b.append("{\n");
        b.append("  \"device\": ").append(str(device)).append(",\n");
        b.append("  \"rates\": {\"name\": ").append(str(rates.name())).append(", \"source\": ").append(str(rates.source()))
                .append(", \"fp8_flops_per_s\": ").append(num(rates.fp8())).append(", \"bf16_flops_per_s\": ").append(num(rates.bf16()))
                .append(", \"f32_flops_per_s\": ").append(num(rates.f32())).append(", \"bytes_per_s\": ").append(num(rates.bandwidth())).append("},\n");
        b.append("  \"steps\": ").append(steps).append(",\n");
        b.append("  \"micro_steps\": ").append(microSteps).append(",\n");
        b.append("  \"tokens\": ").append(tokens).append(",\n");
        b.append("  \"launches_per_micro_step\": ").append(num(launchesPerMicroStep())).append(",\n");
        b.append("  \"driver_launches_per_micro_step\": ").append(num(driverLaunchesPerMicroStep())).append(",\n");
        b.append("  \"graph_replays\": ").append(graphReplays()).append(",\n");
        b.append("  \"graph_captures\": ").append(graphCaptures()).append(",\n");
        b.append("  \"host_syncs_per_step\": ").append(num(hostSyncsPerStep())).append(",\n");
        b.append("  \"fp8_gemm_flop_fraction\": ").append(num(gemmFlopFraction(KernelCost.GemmClass.FP8))).append(",\n");
        b.append("  \"f32_gemm_flop_fraction\": ").append(num(gemmFlopFraction(KernelCost.GemmClass.F32))).append(",\n");
        b.append("  \"estimated_us_per_token\": ").append(num(estimatedMicrosPerToken())).append(",\n");
        b.append("  \"phases\": {\n");
        int i = 0;
        for (Phase p : Phase.values()) {
            long per = p == Phase.MICRO_STEP ? microSteps : steps;
            b.append("    ").append(str(p.name().toLowerCase(Locale.ROOT))).append(": ");
            phaseJson(b, phases.get(p), per, p == Phase.MICRO_STEP ? "micro_step" : "step");
            b.append(++i < Phase.values().length ? ",\n" : "\n");
        }
        b.append("  }\n}\n");
        return b.toString();
    }

    private static void phaseJson(StringBuilder b, PhaseTotals p, long per, String unit) {
        b.append("{\"per\": ").append(str(unit)).append(", ");
        totalsJson(b, p.all, per);
        b.append(", \"driver_launches\": ").append(num(per(p.driverLaunches(), per)))
                .append(", \"eager_launches\": ").append(num(per(p.driver(DriverCall.EAGER_LAUNCH), per)))
                .append(", \"graph_launches\": ").append(num(per(p.driver(DriverCall.GRAPH_LAUNCH), per)))
                .append(", \"graph_captures\": ").append(num(per(p.driver(DriverCall.GRAPH_CAPTURE), per)));
        b.append(", \"host_syncs\": ").append(num(per(p.hostSyncs, per))).append(", \"host_syncs_by_kind\": {");
        int i = 0;
        for (var e : p.syncs.entrySet())
            b.append(i++ > 0 ? ", " : "").append(str(e.getKey().name().toLowerCase(Locale.ROOT))).append(": ").append(num(per(e.getValue(), per)));
        b.append("}, \"gemm_flops\": {");
        i = 0;
        for (KernelCost.GemmClass c : KernelCost.GemmClass.values())
            b.append(i++ > 0 ? ", " : "").append(str(c.name().toLowerCase(Locale.ROOT))).append(": ").append(num(p.gemmFlops.getOrDefault(c, 0.0) / Math.max(1, per)));
        b.append("}, \"families\": {");
        i = 0;
        for (var e : p.families.entrySet()) {
            b.append(i++ > 0 ? ", " : "").append("\n      ").append(str(e.getKey())).append(": {");
            totalsJson(b, e.getValue(), per);
            b.append('}');
        }
        b.append(p.families.isEmpty() ? "}}" : "\n    }}");
    }

    private static void totalsJson(StringBuilder b, Totals t, long per) {
        b.append("\"launches\": ").append(num(per(t.launches, per))).append(", \"flops\": ").append(num(per(t.flops, per)))
                .append(", \"bytes\": ").append(num(per(t.bytes, per))).append(", \"estimated_us\": ").append(num(per(t.seconds * 1e6, per)));
    }

    private static String num(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return String.format(Locale.ROOT, "%.6g", v);
    }

    private static String str(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20) b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    /** Writes {@link #json()} to {@code file} atomically (a temporary file in the same folder, then a rename). */
    @Override public void write(Path file) throws IOException {
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir != null) Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, abs.getFileName().toString(), ".tmp");
        try {
            Files.writeString(tmp, json(), StandardCharsets.UTF_8);
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
