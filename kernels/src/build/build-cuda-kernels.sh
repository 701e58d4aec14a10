#!/usr/bin/env bash
# Compiles kernels/src/main/cuda/*.cu into one fatbin per op family (sm_80, sm_90 machine code + PTX
# for newer GPUs) under <out>/cuda/, with kernels.properties describing what was built.
# Runs in the Maven build (generate-resources). Without nvcc it records built=false and succeeds:
# the CUDA backend then reports that this build has no kernels.
# Usage: build-cuda-kernels.sh <src-dir> <classes-dir> <log-dir> [skip=true|false]
set -euo pipefail
src="$1"; out="$2/cuda"; logs="$3"; skip="${4:-false}"
mkdir -p "$out" "$logs"
props="$out/kernels.properties"

if [ "$skip" = "true" ]; then
  echo "[cuda] -Dcuda.skip=true: building without CUDA kernels"
  rm -f "$out"/*.fatbin
  printf 'built=false\nreason=the kernels were skipped with -Dcuda.skip=true when this jar was built\n' > "$props"
  exit 0
fi

find_nvcc() {
  if [ -n "${NVCC:-}" ] && [ -x "$NVCC" ]; then echo "$NVCC"; return 0; fi
  if command -v nvcc >/dev/null 2>&1; then command -v nvcc; return 0; fi
  for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda /opt/cuda; do
    if [ -n "$d" ] && [ -x "$d/bin/nvcc" ]; then echo "$d/bin/nvcc"; return 0; fi
  done
  return 1
}

mods=()
for f in "$src"/*.cu; do mods+=("$(basename "$f" .cu)"); done

if ! nvcc="$(find_nvcc)"; then
  echo "[cuda] nvcc not found (PATH, \$NVCC, \$CUDA_HOME, /usr/local/cuda, /opt/cuda): building without CUDA kernels"
  rm -f "$out"/*.fatbin
  printf 'built=false\nreason=nvcc was not found when this jar was built (PATH, NVCC, CUDA_HOME, /usr/local/cuda, /opt/cuda)\n' > "$props"
  exit 0
fi

# Fatbins of modules whose .cu file is gone (renamed or merged into another family) must not ship.
for fb in "$out"/*.fatbin; do
  [ -e "$fb" ] || continue
  [ -f "$src/$(basename "$fb" .fatbin).cu" ] || rm -f "$fb"
done

arch="-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90"
# Up to date when every fatbin is newer than every source and header.
newest_src="$(ls -t "$src"/*.cu "$src"/*.cuh | head -1)"
stale=()
for m in "${mods[@]}"; do
  fb="$out/$m.fatbin"
  if [ ! -f "$fb" ] || [ "$newest_src" -nt "$fb" ] || ! grep -q '^built=true' "$props" 2>/dev/null; then stale+=("$m"); fi
done
if [ ${#stale[@]} -eq 0 ]; then echo "[cuda] kernels up to date (${#mods[@]} modules)"; exit 0; fi

echo "[cuda] $("$nvcc" --version | tail -1); compiling ${stale[*]}"
export nvcc arch src out logs
compile() {
  m="$1"
  # -Xptxas -v: registers, shared memory and spills of every kernel go to the build log.
  if "$nvcc" -fatbin -O3 -std=c++17 --threads 2 -Xptxas -v $arch -o "$out/$m.fatbin.tmp" "$src/$m.cu" > "$logs/$m.log" 2>&1; then
    mv "$out/$m.fatbin.tmp" "$out/$m.fatbin"
  else
    cat "$logs/$m.log" >&2; echo "[cuda] nvcc failed on $m.cu" >&2; return 1
  fi
}
export -f compile
printf '%s\n' "${stale[@]}" | xargs -P 2 -I{} bash -c 'compile {}'
for m in "${stale[@]}"; do
  echo "[cuda] ptxas report for $m.cu:"
  grep -E "Compiling entry|Used|spill" "$logs/$m.log" | sed 's/^/[cuda]   /'
done
{
  echo "built=true"
  echo "modules=$(IFS=,; echo "${mods[*]}")"
  echo "nvcc=$("$nvcc" --version | tail -1)"
  echo "arch=sm_80,sm_90,compute_90"
} > "$props"
echo "[cuda] wrote ${#mods[@]} fatbins to $out"
