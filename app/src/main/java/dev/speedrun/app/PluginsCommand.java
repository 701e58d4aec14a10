package dev.speedrun.app;

import dev.speedrun.app.config.ConfigLoader;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code plugins}: lists the discovered plugins with their descriptions and default options. */
@Command(name = "plugins", mixinStandardHelpOptions = true,
        description = "List the plugins found on the class path and in --plugin-path folders.")
public final class PluginsCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--plugin-path", paramLabel = "DIR", split = ",",
            description = "Folder(s) whose *.jar files are searched for plugins (repeatable).")
    List<Path> pluginPath = new ArrayList<>();

    @Option(names = "--verbose", description = "Also print each plugin's default options and origin; stack traces on errors.")
    boolean verbose;

    @Override public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PluginRegistry reg = PluginRegistry.discover(pluginPath);
        int w = reg.names().stream().mapToInt(String::length).max().orElse(4);
        out.println("Plugins (" + reg.all().size() + "):");
        for (PluginRegistry.Found f : reg.all()) {
            out.printf("  %-" + w + "s  %s  [%s]%n", f.plugin().name(), f.plugin().description(), f.source());
            if (verbose) {
                String opts = ConfigLoader.toYaml(f.plugin().defaultOptions()).strip();
                if (!opts.equals("{}")) for (String line : opts.split("\n")) out.println("      " + line);
            }
        }
        out.println("Use them with: train-app train --plugins " + String.join(",", reg.names()));
        out.flush();
        return 0;
    }
}
