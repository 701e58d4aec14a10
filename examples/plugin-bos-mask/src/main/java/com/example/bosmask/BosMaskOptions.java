package com.example.bosmask;

/**
 * Options of the bos-mask plugin (YAML: {@code plugin_options: {bos-mask: {bos_id: 50256}}}).
 * @param bosId the document-start token (GPT-2's {@code <|endoftext|>} = 50256)
 */
public record BosMaskOptions(int bosId) {
    public static final BosMaskOptions DEFAULT = new BosMaskOptions(50256);
}
