package dev.speedrun.app;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The options of every command that builds a training run (picocli mixin): where third-party
 * plugin jars are, and stack traces on errors (Main prints them; the flag is declared here so
 * every such command accepts it).
 */
public final class PluginOptions {
    @Option(names = "--plugin-path", paramLabel = "DIR", split = ",", description = "Folder(s) with plugin jars.") List<Path> pluginPath = new ArrayList<>();
    @Option(names = "--verbose", description = "Stack traces on errors.") boolean verbose;

    /** The folders of {@code --plugin-path}. */
    public List<Path> pluginPath() { return pluginPath; }

    public boolean verbose() { return verbose; }

    /** The class-path plugins plus those in the {@code --plugin-path} folders. */
    public PluginRegistry registry() { return PluginRegistry.discover(pluginPath); }
}
