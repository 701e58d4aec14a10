package dev.speedrun.tensor;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class TensorTest {
    @Test void shapeBasics() {
        Shape s = Shape.of(2, 3, 4);
        assertEquals(24, s.numel());
        assertEquals(4, s.dim(-1));
        assertEquals(1, Shape.of().numel());
        assertEquals(0, Shape.of(3, 0).numel());
        assertThrows(IllegalArgumentException.class, () -> Shape.of(2, -1));
        assertEquals(Shape.of(2, 3), Shape.of(2, 3));
    }

    @Test void viewsShareStorageAndRoundTrip() {
        Backend cpu = Backends.cpu();
        try (MemoryArena arena = cpu.newArena()) {
            Tensor t = arena.allocate(DType.F32, 4, 3);
            double[] v = new double[12];
            for (int i = 0; i < v.length; i++) v[i] = i * 0.5;
            HostData.write(t, v);
            Tensor row2 = t.get(2);
            assertArrayEquals(new double[] {3.0, 3.5, 4.0}, HostData.toDoubles(row2));
            Tensor rows = t.slice(1, 3).reshape(6);
            assertArrayEquals(new double[] {1.5, 2, 2.5, 3, 3.5, 4}, HostData.toDoubles(rows));
            HostData.write(t.view(5, 2), new double[] {-1, -2});
            assertEquals(-1, HostData.toDoubles(t)[5]);
            assertEquals(-2, HostData.toDoubles(t)[6]);
            assertThrows(IllegalArgumentException.class, () -> t.reshape(5));
            assertThrows(IllegalArgumentException.class, () -> t.slice(2, 5));
            assertThrows(IllegalArgumentException.class, () -> t.view(11, 2));
        }
    }

    @Test void arenaAlignsAndZeroFills() {
        try (MemoryArena arena = Backends.cpu().newArena()) {
            Tensor a = arena.allocate(DType.BF16, 3);
            Tensor b = arena.allocate(DType.F64, 5);
            assertEquals(0, a.address() % MemoryArena.ALIGN);
            assertEquals(0, b.address() % MemoryArena.ALIGN);
            for (double d : HostData.toDoubles(b)) assertEquals(0.0, d);
            assertTrue(arena.allocatedBytes() > 0);
        }
    }

    @Test void dtypeConversionsOnTheHost() {
        try (MemoryArena arena = Backends.cpu().newArena()) {
            Tensor bf = arena.allocate(DType.BF16, 2);
            HostData.write(bf, new double[] {1.0 + 0x1p-9, -3.0});
            assertArrayEquals(new double[] {1.0, -3.0}, HostData.toDoubles(bf));
            Tensor i = arena.allocate(DType.I32, 2);
            HostData.write(i, new int[] {50256, -7});
            assertArrayEquals(new int[] {50256, -7}, HostData.toInts(i));
        }
    }

    @Test void unknownBackendAndDtypeNameValidChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.get("tpu"));
        assertTrue(e.getMessage().contains("cpu"), e.getMessage());
        IllegalArgumentException d = assertThrows(IllegalArgumentException.class, () -> DType.parse("f16"));
        assertTrue(d.getMessage().contains("bf16"), d.getMessage());
        assertEquals(DType.BF16, DType.parse("bf16"));
        assertEquals(0x1p-23, DType.F32.epsilon());
    }
}
