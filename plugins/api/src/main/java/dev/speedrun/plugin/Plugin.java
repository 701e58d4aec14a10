package dev.speedrun.plugin;

import com.google.inject.Module;

/**
 * A trainer plugin, found with {@link java.util.ServiceLoader} (register the implementation in
 * {@code META-INF/services/dev.speedrun.plugin.Plugin}). A plugin has a name (what
 * {@code --plugins} and the configuration's {@code plugins:} list use), a one-line description,
 * typed options read from the configuration's {@code plugin_options.<name>} section, and a Guice
 * module that wires its implementations into the trainer's extension points ({@link Extensions}).
 *
 * @param <O> the options type: a record whose components are the option keys (snake_case in
 *            YAML); use {@link NoOptions} when there are none
 */
public interface Plugin<O extends Record> {
    /** Lower-case, dash-separated name, unique among the plugins on the class path. */
    String name();

    /** One line for {@code train-app plugins}. */
    String description();

    Class<O> optionsType();

    /** The options used for keys the configuration does not set. */
    O defaultOptions();

    /** The module to install for these options. */
    Module module(O options);
}
