package dev.speedrun.app;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.util.TreeSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Pins the layering table of docs/architecture.md: each module uses
 * only what it may, there are no cycles, plugins never use the app nor each other, and the app
 * knows plugins only at run time (ServiceLoader), never by their classes, nor the backends'
 * internals (kernels.cpu, kernels.cuda).
 */
class LayeringTest {
    static JavaClasses classes;

    @BeforeAll static void load() {
        classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.speedrun");
    }

    @Test void everyModuleIsOnTheTestClassPath() {
        TreeSet<String> packages = new TreeSet<>();
        classes.forEach(c -> packages.add(c.getPackageName()));
        for (String p : new String[] {"tensor", "kernels", "model", "schedules", "plugin", "plugins.mtp", "plugins.untie",
                "plugins.cwd", "plugins.adamcwdstrict", "app"})
            assertTrue(packages.stream().anyMatch(q -> q.equals("dev.speedrun." + p) || q.startsWith("dev.speedrun." + p + ".")),
                    "no classes of dev.speedrun." + p + " imported (have " + packages + "): the rule would test nothing");
    }

    @Test void layersUseOnlyWhatTheTableAllows() {
        layeredArchitecture().consideringOnlyDependenciesInLayers()
                .withOptionalLayers(true)
                .layer("tensor").definedBy("dev.speedrun.tensor..")
                .layer("kernels").definedBy("dev.speedrun.kernels..")
                .layer("model").definedBy("dev.speedrun.model..")
                .layer("losses").definedBy("dev.speedrun.losses..")
                .layer("optim").definedBy("dev.speedrun.optim..")
                .layer("schedules").definedBy("dev.speedrun.schedules..")
                .layer("data").definedBy("dev.speedrun.data..")
                .layer("plugin-api").definedBy("dev.speedrun.plugin..")
                .layer("plugins").definedBy("dev.speedrun.plugins..")
                .layer("app").definedBy("dev.speedrun.app..")
                .whereLayer("tensor").mayNotAccessAnyLayer()
                .whereLayer("kernels").mayOnlyAccessLayers("tensor")
                .whereLayer("model").mayOnlyAccessLayers("losses", "kernels", "tensor")
                .whereLayer("losses").mayOnlyAccessLayers("kernels", "tensor")
                .whereLayer("optim").mayOnlyAccessLayers("model", "kernels", "tensor")
                .whereLayer("schedules").mayOnlyAccessLayers("model", "optim", "losses", "kernels", "tensor")
                .whereLayer("data").mayOnlyAccessLayers("tensor")
                .whereLayer("plugin-api").mayOnlyAccessLayers("losses", "optim", "schedules", "model", "kernels", "tensor")
                .whereLayer("plugins").mayOnlyAccessLayers("plugin-api", "losses", "optim", "schedules", "model", "kernels", "tensor")
                .whereLayer("app").mayOnlyAccessLayers("plugin-api", "data", "losses", "optim", "schedules", "model", "kernels", "tensor")
                .check(classes);
    }

    @Test void noCyclesBetweenModules() {
        slices().matching("dev.speedrun.(*)..").should().beFreeOfCycles().check(classes);
    }

    @Test void pluginsDoNotUseEachOther() {
        slices().matching("dev.speedrun.plugins.(*)..").should().notDependOnEachOther().check(classes);
    }

    @Test void theAppNeverUsesBackendInternals() {
        // backends are found by name through the kernels SPIs (Kernels, Ranks): a new one plugs in without app changes
        noClasses().that().resideInAPackage("dev.speedrun.app..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.speedrun.kernels.cuda..", "dev.speedrun.kernels.cpu..")
                .check(classes);
    }

    @Test void pluginsNeverUseTheApp() {
        noClasses().that().resideInAnyPackage("dev.speedrun.plugin..", "dev.speedrun.plugins..")
                .should().dependOnClassesThat().resideInAPackage("dev.speedrun.app..").check(classes);
    }
}
