#!/usr/bin/env bash
# Sanitizer pass of the emulated CUDA kernels: builds the unchanged .cu files and the emulation
# runtime with AddressSanitizer and UndefinedBehaviorSanitizer (fiber switches are announced to
# ASan), links the driver kernels/src/test/sanitize/driver.cpp, which launches every kernel with
# CudaOps' launch shapes on small test shapes in all three thread orders, and runs it.
# Usage: scripts/emu-sanitize.sh [work-dir]   (needs g++ and the CUDA headers; about a minute)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:-$root/kernels/target/emu-sanitize}"
k="$root/kernels"
mkdir -p "$work"
san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g -O1"
EMU_CXXFLAGS="$san" EMU_LDFLAGS="$san" bash "$k/src/build/build-cuda-emu.sh" "$work/lib" "$work/obj" false \
  "$k/src/main/cuda-emu" "$k/src/main/cuda" "$k/src/main/cuda"
g++ -std=c++20 $san -o "$work/driver" "$k/src/test/sanitize/driver.cpp" -L"$work/lib" -lcudaemu -Wl,-rpath,"$work/lib"
# detect_stack_use_after_return would need fake stacks per fiber; leaks are the driver's business.
ASAN_OPTIONS="detect_leaks=0:detect_stack_use_after_return=0:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1" "$work/driver"
