package dev.speedrun.plugin;

import com.google.inject.Binder;
import com.google.inject.Module;
import java.util.Objects;

/**
 * The short way to write a {@link Plugin}: name, description and default options go to the
 * constructor, the bindings to {@link #configure}. The options type is the default options'
 * record class (records are final, so it is exactly {@code O}). Implementing {@link Plugin}
 * directly stays supported (the example plugin does); the trainer sees no difference.
 * <pre>{@code
 *   public final class MyPlugin extends AbstractPlugin<MyOptions> {
 *       public MyPlugin() { super("my-plugin", "one line for train-app plugins", MyOptions.DEFAULT); }
 *
 *       @Override protected void configure(Binder binder, MyOptions options) {
 *           Extensions.hooks(binder).addBinding().toInstance(new MyHook(options));
 *       }
 *   }
 * }</pre>
 *
 * @param <O> the options type, as in {@link Plugin}
 */
public abstract class AbstractPlugin<O extends Record> implements Plugin<O> {
    private final String name;
    private final String description;
    private final O defaultOptions;

    /**
     * @param name           what {@code --plugins} uses; see {@link Plugin#name()}
     * @param description    one line for {@code train-app plugins}
     * @param defaultOptions the options for keys the configuration does not set ({@link NoOptions#INSTANCE} when there are none)
     */
    protected AbstractPlugin(String name, String description, O defaultOptions) {
        this.name = Objects.requireNonNull(name, "name");
        this.description = Objects.requireNonNull(description, "description");
        this.defaultOptions = Objects.requireNonNull(defaultOptions, "defaultOptions");
    }

    /**
     * Contributes this plugin's bindings for {@code options} to the trainer's extension points
     * ({@link Extensions}); values the bindings need from the run, such as {@code ScheduleConfig},
     * come through {@link Binder#getProvider}.
     */
    protected abstract void configure(Binder binder, O options);

    @Override public final String name() { return name; }

    @Override public final String description() { return description; }

    @SuppressWarnings("unchecked") // a record class is final: the class of an O is Class<O>
    @Override public final Class<O> optionsType() { return (Class<O>) defaultOptions.getClass(); }

    @Override public final O defaultOptions() { return defaultOptions; }

    @Override public final Module module(O options) {
        Objects.requireNonNull(options, "options");
        return binder -> configure(binder, options);
    }
}
