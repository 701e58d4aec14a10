// Kernel registration of the CUDA emulation: EMU_REGISTER(kernel) (emitted by the build for every
// extern "C" __global__ function of a .cu file) records how to unpack cuLaunchKernel-style
// parameter pointers into the kernel's argument tuple and how to call it.
#pragma once
#include "cuda_emu.h"

#include <cstddef>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>

namespace emu {

struct KernelEntry {
    const char* name;
    size_t argBytes;
    void (*unpack)(void** params, void* args);   // placement-constructs the argument tuple
    void (*run)(const void* args);               // calls the kernel with it (one CUDA thread)
};

struct Registrar {
    explicit Registrar(const KernelEntry* e);
};

template <typename F, F f> struct Launcher;

template <typename... A, void (*f)(A...)> struct Launcher<void (*)(A...), f> {
    using Args = std::tuple<std::remove_cv_t<std::remove_reference_t<A>>...>;

    template <size_t... I> static void unpackAll(void** params, void* out, std::index_sequence<I...>) {
        new (out) Args(*static_cast<std::tuple_element_t<I, Args>*>(params[I])...);
    }

    static void unpack(void** params, void* out) { unpackAll(params, out, std::index_sequence_for<A...>{}); }

    static void run(const void* args) { std::apply(f, *static_cast<const Args*>(args)); }
};

}  // namespace emu

#define EMU_REGISTER(k)                                                                                          \
    static const ::emu::KernelEntry emu_entry_##k{#k, sizeof(::emu::Launcher<decltype(&k), &k>::Args),           \
                                                  &::emu::Launcher<decltype(&k), &k>::unpack,                    \
                                                  &::emu::Launcher<decltype(&k), &k>::run};                      \
    static const ::emu::Registrar emu_registrar_##k(&emu_entry_##k);
