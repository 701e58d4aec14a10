package dev.speedrun.app.research;

import com.google.inject.Key;
import com.google.inject.TypeLiteral;
import dev.speedrun.app.PluginOptions;
import dev.speedrun.app.RunLauncher;
import dev.speedrun.app.config.ConfigException;
import dev.speedrun.app.config.TrainConfig;
import dev.speedrun.data.Gpt2Tokenizer;
import dev.speedrun.data.Shard;
import dev.speedrun.kernels.Kernels;
import dev.speedrun.kernels.Ops;
import dev.speedrun.losses.LossFunction;
import dev.speedrun.model.Checkpoints;
import dev.speedrun.model.Gpt;
import dev.speedrun.model.GptConfig;
import dev.speedrun.model.ParameterTable;
import dev.speedrun.schedules.RecordSchedules;
import dev.speedrun.schedules.TrainingContext;
import dev.speedrun.schedules.TrainingHook;
import dev.speedrun.schedules.Windows;
import dev.speedrun.tensor.HostData;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code sample}: text generation from a training checkpoint with the GPT-2 tokenizer. The model
 * is rebuilt from the run's config.yaml (its plugins set the embedding tying of the checkpoint's
 * step, YaRN follows the schedule up to it), the prompt follows a BOS token as training documents
 * do, and each new token is drawn from the soft-capped logits of the last position (temperature,
 * top-k; temperature 0 is greedy) and printed as soon as it completes a character, until
 * {@code <|endoftext|>} ends the document (unless {@code --no-stop-at-eot}). No KV cache:
 * every token runs the whole context (at most max_seq_len tokens) through the model.
 */
@Command(name = "sample", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate text from a checkpoint with the GPT-2 tokenizer (temperature, top-k, seed), streaming it.")
public final class SampleTextCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, paramLabel = "DIR", description = "A run folder (its latest checkpoint) or a checkpoint folder.") Path checkpoint;
    @Option(names = "--prompt", defaultValue = "", paramLabel = "TEXT", description = "Text to continue (default: none, a new document).") String prompt;
    @Option(names = "--tokens", defaultValue = "64", paramLabel = "N", description = "Tokens to generate (default ${DEFAULT-VALUE}).") int tokens;
    @Option(names = "--temperature", defaultValue = "0.8", paramLabel = "T", description = "Sampling temperature; 0: greedy (default ${DEFAULT-VALUE}).") double temperature;
    @Option(names = "--top-k", defaultValue = "50", paramLabel = "K", description = "Sample among the K likeliest tokens; 0: all (default ${DEFAULT-VALUE}).") int topK;
    @Option(names = "--seed", defaultValue = "0", description = "Sampling seed (default ${DEFAULT-VALUE}).") long seed;
    @Option(names = "--stop-at-eot", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Stop at <|endoftext|>, the end of a GPT-2 document (default); --no-stop-at-eot generates all --tokens.") boolean stopAtEot;
    @Option(names = "--backend", paramLabel = "NAME", description = "Backend (default: the run's).") String backend;
    @Option(names = "--precision", paramLabel = "P", description = "Model precision (default: the run's).") String precision;
    @Mixin PluginOptions plugin = new PluginOptions();

    PrintStream console = System.out;

    /** The generated token ids (tests). */
    int[] generated;

    @Override public Integer call() throws IOException {
        if (tokens < 1) throw new ConfigException("--tokens must be ≥ 1, got " + tokens);
        if (!(temperature >= 0) || !Double.isFinite(temperature)) throw new ConfigException("--temperature must be ≥ 0, got " + temperature);
        if (topK < 0) throw new ConfigException("--top-k must be ≥ 0, got " + topK);
        Path ck;
        try {
            ck = RunLauncher.resolveCheckpoint(checkpoint);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("--checkpoint " + checkpoint + ": no checkpoint there (a run folder with checkpoints/latest, or a "
                    + "checkpoints/step-N folder)");
        }
        Path runDir = ck.getParent().getParent();
        Path cfgFile = runDir.resolve("config.yaml");
        if (!Files.isRegularFile(cfgFile)) throw new ConfigException("--checkpoint " + checkpoint + ": the run folder " + runDir + " has no config.yaml");
        Map<String, Object> overrides = new LinkedHashMap<>();
        if (backend != null) overrides.put("backend", backend);
        if (precision != null) overrides.put("precision", precision);
        RunLauncher.Prepared p = RunLauncher.prepare(cfgFile.toString(), overrides, plugin.registry());
        RunLauncher.requireAvailable(p);
        TrainConfig cfg = p.config();
        int step = RunLauncher.checkpointStep(ck);
        int world = Integer.parseInt(RunLauncher.checkpointInfo(ck).getOrDefault("world_size", String.valueOf(cfg.worldSize())));
        var m = cfg.model();
        GptConfig mc = GptConfig.withSizes(m.vocabSize(), m.numLayers(), m.numHeads(), m.headDim(), m.modelDim(), m.blockSize(), m.gateInputDims())
                .withQkvInitScale(m.qkvInitScale()).validate();
        int bs = mc.blockSize();
        int maxT = Math.max(bs, (m.maxSeqLen() + bs - 1) / bs * bs);
        RecordSchedules sched = p.injector().getInstance(RecordSchedules.class);
        Set<TrainingHook> hooks = p.injector().getInstance(Key.get(new TypeLiteral<Set<TrainingHook>>() {}));
        LossFunction loss = p.injector().getInstance(LossFunction.class);
        Ops ops = Kernels.ops(cfg.backend());

        List<Integer> ctx = new ArrayList<>();
        ctx.add(Shard.BOS);
        for (int t : Gpt2Tokenizer.encode(prompt)) ctx.add(t);
        int promptTokens = ctx.size() - 1;
        if (ctx.size() >= maxT) throw new ConfigException("--prompt is " + promptTokens + " tokens; this model's context holds " + (maxT - 1));
        SplittableRandom rnd = new SplittableRandom(seed);
        try (Gpt model = new Gpt(mc, ops, RunLauncher.precision(cfg), maxT, world, cfg.seed())) {
            Checkpoints.load(model, ck.resolve("model.safetensors"));
            int total = cfg.trainSteps();
            TrainingContext tc = new SampleContext(model, sched, step, total);
            for (TrainingHook h : hooks) h.onRunStart(tc);
            int curLong = sched.windows(0).longBlocks();
            for (int s = 1; s <= Math.min(step, sched.totalSteps() - 1); s++) {
                int l = sched.windows(s).longBlocks();
                if (l != curLong) { model.yarn().apply(curLong, l); curLong = l; }
            }
            Windows w = sched.validationWindows(step);
            console.printf("sample: %s (step %d of %d), %s on %s, %d prompt tokens, temperature %s, top-k %d, seed %d%n", ck, step, total,
                    RunLauncher.precision(cfg).name(), ops.backend().name(), promptTokens, temperature, topK, seed);
            console.print(prompt);
            console.flush();
            int V = mc.vocabSize();
            NextToken next = context -> {
                int n = Math.min(context.size(), maxT);
                List<Integer> window = context.subList(context.size() - n, context.size());
                int T = (n + bs - 1) / bs * bs;
                int[] in = new int[T], tg = new int[T];
                Arrays.fill(in, Shard.BOS);
                for (int j = 0; j < n; j++) in[j] = window.get(j);
                int[] cu = T > n ? new int[] {0, n, T} : new int[] {0, n};
                model.evaluate(in, tg, cu, w.shortBlocks(), w.longBlocks(), loss);
                double[] z = HostData.toDoubles(model.logits(T).get(n - 1));
                return pick(z, V, mc.softcap(), mc.softcapDivisor(), temperature, topK, rnd);
            };
            generated = generate(next, ctx, tokens, stopAtEot, console);
            if (generated.length < tokens && stopAtEot)
                console.printf("sample: stopped at <|endoftext|> after %d token%s (--no-stop-at-eot goes on)%n", generated.length,
                        generated.length == 1 ? "" : "s");
        }
        return 0;
    }

    /** The next token after a context (BOS first, then prompt and generated tokens). */
    interface NextToken {
        int after(List<Integer> context);
    }

    /**
     * Up to {@code tokens} tokens after {@code context} (which grows by each), streamed to
     * {@code console} as soon as they complete a character (a multi-byte character may need
     * several tokens), then a line end. With {@code stopAtEot} the first {@code <|endoftext|>}
     * ends the generation (the document is over: nothing after it continues the prompt) and is
     * not part of the result.
     */
    static int[] generate(NextToken model, List<Integer> context, int tokens, boolean stopAtEot, PrintStream console) {
        List<Integer> gen = new ArrayList<>();
        String shown = "";
        for (int i = 0; i < tokens; i++) {
            int next = model.after(context);
            if (next == Shard.BOS && stopAtEot) break;
            context.add(next);
            gen.add(next);
            String text = Gpt2Tokenizer.decode(gen.stream().mapToInt(Integer::intValue).toArray());
            if (!text.endsWith("\uFFFD") && text.length() >= shown.length()) {
                console.print(text.substring(shown.length()));
                console.flush();
                shown = text;
            }
        }
        String text = Gpt2Tokenizer.decode(gen.stream().mapToInt(Integer::intValue).toArray());
        if (text.length() > shown.length() && text.startsWith(shown)) console.print(text.substring(shown.length()));
        console.println();
        return gen.stream().mapToInt(Integer::intValue).toArray();
    }

    /** A token from logits z: soft cap ℓ = cap·σ(z/div), then greedy, or softmax(ℓ/T) over the top k. */
    static int pick(double[] z, int vocab, double cap, double div, double temperature, int topK, SplittableRandom rnd) {
        int V = Math.min(vocab, z.length);
        double[] l = new double[V];
        for (int i = 0; i < V; i++) l[i] = cap / (1 + Math.exp(-z[i] / div));
        int best = 0;
        for (int i = 1; i < V; i++) if (l[i] > l[best]) best = i;
        if (temperature == 0) return best;
        Integer[] idx = new Integer[V];
        for (int i = 0; i < V; i++) idx[i] = i;
        int k = topK == 0 ? V : Math.min(topK, V);
        Arrays.sort(idx, (a, b) -> Double.compare(l[b], l[a]));
        double[] pr = new double[k];
        double sum = 0;
        for (int i = 0; i < k; i++) { pr[i] = Math.exp((l[idx[i]] - l[best]) / temperature); sum += pr[i]; }
        double u = rnd.nextDouble() * sum;
        for (int i = 0; i < k; i++) {
            u -= pr[i];
            if (u <= 0) return idx[i];
        }
        return idx[k - 1];
    }

    /** What the plugins' onRunStart sees when sampling: the model at the checkpoint's step, no optimizer. */
    private record SampleContext(Gpt model, RecordSchedules schedules, int step, int totalSteps) implements TrainingContext {
        @Override public ParameterTable parameters() { return model; }

        @Override public Ops ops() { return model.ops(); }

        @Override public void copyOptimizerState(String from, String to) {
            throw new UnsupportedOperationException("sampling has no optimizer state (" + from + " → " + to + ")");
        }

        @Override public void setEmbeddingTied(boolean tied) { model.setSplitEmbed(!tied); }
    }
}
