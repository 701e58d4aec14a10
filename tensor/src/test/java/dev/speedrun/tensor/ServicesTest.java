package dev.speedrun.tensor;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

class ServicesTest {
    record Named(String name) {}

    static final List<Named> CANDIDATES = List.of(new Named("alpha"), new Named("Beta"));

    @Test void findsByTheGivenComparison() {
        assertSame(CANDIDATES.get(1), Services.named(CANDIDATES, "thing", Named::name, String::equals, "Beta"));
        assertSame(CANDIDATES.get(1), Services.named(CANDIDATES, "thing", Named::name, String::equalsIgnoreCase, "beta"));
        assertThrows(IllegalArgumentException.class, () -> Services.named(CANDIDATES, "thing", Named::name, String::equals, "beta"));
    }

    @Test void anUnknownNameIsAnErrorNamingItTheKindAndTheValidNames() {
        var ex = assertThrows(IllegalArgumentException.class, () -> Services.named(CANDIDATES, "thing", Named::name, String::equals, "gamma"));
        assertTrue(ex.getMessage().startsWith("unknown thing 'gamma'"), ex.getMessage());
        for (Named c : CANDIDATES) assertTrue(ex.getMessage().contains(c.name()), ex.getMessage());
    }

    @Test void allLoadsTheRegisteredImplementations() {
        List<String> names = Services.all(Backend.class).stream().map(Backend::name).toList();
        assertTrue(names.contains(Backends.cpu().name()), names.toString());
        assertEquals(Backends.all().size(), names.size());
    }
}
