package dev.speedrun.data;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;

/**
 * The GPT-2 BPE tokenizer (tiktoken's {@code r50k_base}, through jtokkit). Thread-safe. Text is
 * encoded as ordinary text: a literal {@code <|endoftext|>} in a document is not turned into BOS.
 */
public final class Gpt2Tokenizer {
    /** Vocabulary size of GPT-2 (the last id is {@link Shard#BOS}). */
    public static final int VOCAB_SIZE = 50257;

    private static final class Holder {
        static final Encoding ENCODING = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
    }

    private Gpt2Tokenizer() {}

    public static int[] encode(String text) { return Holder.ENCODING.encodeOrdinary(text).toArray(); }

    /** {@code [BOS] + encode(text)}: how every document enters a shard. */
    public static int[] encodeDocument(String text) {
        IntArrayList t = Holder.ENCODING.encodeOrdinary(text);
        int[] out = new int[t.size() + 1];
        out[0] = Shard.BOS;
        for (int i = 0; i < t.size(); i++) out[i + 1] = t.get(i);
        return out;
    }

    public static String decode(int[] tokens) {
        IntArrayList l = new IntArrayList(tokens.length);
        for (int t : tokens) l.add(t);
        return Holder.ENCODING.decode(l);
    }
}
