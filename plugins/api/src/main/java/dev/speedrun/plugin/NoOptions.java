package dev.speedrun.plugin;

/** Options type of a plugin without options: any key under its section is then an error. */
public record NoOptions() {
    public static final NoOptions INSTANCE = new NoOptions();
}
