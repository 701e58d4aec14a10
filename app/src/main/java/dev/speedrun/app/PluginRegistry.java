package dev.speedrun.app;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.inject.Module;
import dev.speedrun.app.config.ConfigException;
import dev.speedrun.app.config.ConfigLoader;
import dev.speedrun.plugin.Plugin;
import java.io.IOException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * The plugins this process can use: those on the class path plus those in the jars of the
 * {@code --plugin-path} folders (loaded through a child class loader, so a third-party plugin
 * needs no rebuild), found with {@link ServiceLoader}.
 */
public final class PluginRegistry {
    /** A discovered plugin and where it came from (class path or a jar). */
    public record Found(Plugin<?> plugin, String source) {}

    private final Map<String, Found> plugins = new TreeMap<>(); // sorted by name: stable listings
    private final ClassLoader loader;

    private PluginRegistry(ClassLoader loader) {
        this.loader = loader;
        for (Plugin<?> p : ServiceLoader.load(Plugin.class, loader)) {
            String src = sourceOf(p);
            Found prev = plugins.putIfAbsent(p.name(), new Found(p, src));
            if (prev != null && !prev.plugin().getClass().getName().equals(p.getClass().getName()))
                throw new ConfigException("two plugins are called '" + p.name() + "': " + prev.source() + " and " + src);
        }
    }

    /** Class-path plugins plus every *.jar directly inside each folder of {@code pluginPaths}. */
    public static PluginRegistry discover(List<Path> pluginPaths) {
        List<URL> urls = new ArrayList<>();
        for (Path dir : pluginPaths) {
            if (!Files.isDirectory(dir)) throw new ConfigException("--plugin-path " + dir + " is not a folder");
            try (Stream<Path> s = Files.list(dir)) {
                for (Path jar : s.filter(f -> f.toString().endsWith(".jar") && Files.isRegularFile(f)).sorted().toList())
                    urls.add(jar.toUri().toURL());
            } catch (MalformedURLException e) {
                throw new ConfigException("bad plugin jar path in " + dir + ": " + e.getMessage(), e);
            } catch (IOException e) {
                throw new ConfigException("cannot list --plugin-path " + dir + ": " + e.getMessage(), e);
            }
        }
        ClassLoader parent = PluginRegistry.class.getClassLoader();
        ClassLoader cl = urls.isEmpty() ? parent : new URLClassLoader("plugins", urls.toArray(URL[]::new), parent);
        return new PluginRegistry(cl);
    }

    private static String sourceOf(Plugin<?> p) {
        var cs = p.getClass().getProtectionDomain().getCodeSource();
        if (cs == null || cs.getLocation() == null) return "class path";
        String loc = cs.getLocation().getPath();
        return loc.substring(loc.lastIndexOf('/', loc.length() - 2) + 1);
    }

    public ClassLoader classLoader() { return loader; }

    public List<Found> all() { return List.copyOf(plugins.values()); }

    public List<String> names() { return List.copyOf(plugins.keySet()); }

    /** The plugin called {@code name}; an error listing the available ones otherwise. */
    public Plugin<?> get(String name) {
        Found f = plugins.get(name);
        if (f == null)
            throw new ConfigException("unknown plugin '" + name + "' (available: " + String.join(", ", names())
                    + "; add jars with --plugin-path DIR)");
        return f.plugin();
    }

    /** Checks that every plugin_options section names a known plugin. */
    public void checkOptionSections(Map<String, JsonNode> pluginOptions) {
        for (String n : pluginOptions.keySet())
            if (!plugins.containsKey(n))
                throw new ConfigException("plugin_options has a section for unknown plugin '" + n + "' (available: "
                        + String.join(", ", names()) + ")");
    }

    /** A selected plugin with its bound options and module. */
    public record Selected(Plugin<?> plugin, Record options, Module module) {}

    /** The plugins {@code names} with options from {@code pluginOptions} over their defaults. */
    public List<Selected> select(List<String> names, Map<String, JsonNode> pluginOptions, String source) {
        checkOptionSections(pluginOptions);
        List<Selected> out = new ArrayList<>();
        List<String> seen = new ArrayList<>();
        for (String n : names) {
            if (seen.contains(n)) throw new ConfigException("plugin '" + n + "' is listed twice");
            seen.add(n);
            out.add(selectOne(get(n), pluginOptions.get(n), source));
        }
        return out;
    }

    private static <O extends Record> Selected selectOne(Plugin<O> p, JsonNode given, String source) {
        ObjectNode tree = ConfigLoader.mapper().valueToTree(p.defaultOptions());
        if (given != null && !given.isNull()) {
            if (!given.isObject())
                throw new ConfigException("plugin_options." + p.name() + " in " + source + " must be a mapping of option keys");
            ConfigLoader.merge(tree, given);
        }
        O options = ConfigLoader.bind(tree, p.optionsType(), source, "plugin_options." + p.name());
        return new Selected(p, options, p.module(options));
    }
}
