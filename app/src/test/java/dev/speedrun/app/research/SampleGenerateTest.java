package dev.speedrun.app.research;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.speedrun.data.Gpt2Tokenizer;
import dev.speedrun.data.Shard;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code sample}'s generation loop on a scripted model: where it stops, what it streams, what the model sees. */
class SampleGenerateTest {
    /** A model that answers a fixed script, recording the contexts it was shown. */
    record Script(int[] tokens, List<List<Integer>> seen) implements SampleTextCommand.NextToken {
        Script(int... tokens) { this(tokens, new ArrayList<>()); }

        @Override public int after(List<Integer> context) {
            seen.add(List.copyOf(context));
            return tokens[seen.size() - 1];
        }
    }

    private static final String PROMPT = "The dog";

    @Test void stopsAtEndOfTextUnlessAskedNotTo() {
        int[] words = Gpt2Tokenizer.encode(" ran home. Then");
        int eot = 2;   // the script's position of <|endoftext|>
        int[] script = new int[words.length + 1];
        System.arraycopy(words, 0, script, 0, eot);
        script[eot] = Shard.BOS;
        System.arraycopy(words, eot, script, eot + 1, words.length - eot);

        ByteArrayOutputStream text = new ByteArrayOutputStream();
        Script model = new Script(script);
        int[] got = SampleTextCommand.generate(model, context(), script.length, true, new PrintStream(text, true, StandardCharsets.UTF_8));
        assertArrayEquals(Arrays.copyOf(script, eot), got, "stops before <|endoftext|>");
        assertEquals(Gpt2Tokenizer.decode(Arrays.copyOf(script, eot)) + System.lineSeparator(), text.toString(StandardCharsets.UTF_8));
        assertEquals(eot + 1, model.seen().size(), "asked once more, for the token that ended it");

        ByteArrayOutputStream all = new ByteArrayOutputStream();
        Script on = new Script(script);
        int[] every = SampleTextCommand.generate(on, context(), script.length, false, new PrintStream(all, true, StandardCharsets.UTF_8));
        assertArrayEquals(script, every, "--no-stop-at-eot: all tokens, <|endoftext|> included");
        assertEquals(Gpt2Tokenizer.decode(script) + System.lineSeparator(), all.toString(StandardCharsets.UTF_8));
        // every context is the BOS, the prompt and what was generated so far
        List<Integer> want = context();
        for (int i = 0; i < script.length; i++) {
            assertEquals(want, on.seen().get(i));
            want.add(script[i]);
        }
    }

    @Test void aCharacterSplitOverTokensIsPrintedWhole() {
        int[] script = Gpt2Tokenizer.encode(" é ☃");
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        SampleTextCommand.generate(new Script(script), context(), script.length, true, new PrintStream(text, true, StandardCharsets.UTF_8));
        assertEquals(Gpt2Tokenizer.decode(script) + System.lineSeparator(), text.toString(StandardCharsets.UTF_8));
    }

    private static List<Integer> context() {
        List<Integer> c = new ArrayList<>();
        c.add(Shard.BOS);
        for (int t : Gpt2Tokenizer.encode(PROMPT)) c.add(t);
        return c;
    }
}
