package com.example.bosmask;

import com.google.inject.AbstractModule;
import com.google.inject.Module;
import dev.speedrun.plugin.Extensions;
import dev.speedrun.plugin.Plugin;

/** A loss plugin: drops the loss terms whose target is the first token after a BOS. */
public final class BosMaskPlugin implements Plugin<BosMaskOptions> {
    @Override public String name() { return BosMaskLoss.NAME; }

    @Override public String description() {
        return "loss without the terms whose target is the first token after a BOS (example third-party plugin)";
    }

    @Override public Class<BosMaskOptions> optionsType() { return BosMaskOptions.class; }

    @Override public BosMaskOptions defaultOptions() { return BosMaskOptions.DEFAULT; }

    @Override public Module module(BosMaskOptions options) {
        return new AbstractModule() {
            @Override protected void configure() {
                // replaces the default loss; multi-token weights (mtp) still come with each batch
                Extensions.loss(binder()).setBinding().toInstance(new BosMaskLoss(options.bosId()));
            }
        };
    }
}
