#!/usr/bin/env bash
# Java GEMM (./train-app bench matmul) against numpy's OpenBLAS sgemm, side by side, on 2 threads.
# Usage: scripts/bench-matmul.sh [N] [rounds] [iters]   (defaults: 1024 3 10)
# Each round runs the Java measurement then the numpy one (median and best of `iters` timed calls
# each, after warm-up), prints both GFLOP/s and the ratio of medians; the summary names the best
# round (highest ratio of medians), the best median of each side, and the best single call of
# each side (the figure least disturbed by other load on the machine, which lowers both).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-1024}"; ROUNDS="${2:-3}"; ITERS="${3:-10}"
THREADS=2

# Pin both sides to two cores where the machine has more (and taskset exists).
PIN=()
if [ "$(nproc)" -gt "$THREADS" ] && command -v taskset >/dev/null; then PIN=(taskset -c 0-$((THREADS - 1))); fi

python3 -c 'import numpy' 2>/dev/null || { echo "bench-matmul: needs python3 with numpy" >&2; exit 2; }

# numpy: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE may be set machine-wide; unset them for this command only.
numpy_bench() {
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS \
    "${PIN[@]}" python3 - "$N" "$ITERS" "$THREADS" <<'PY'
import sys, time
import numpy as np
n, iters, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
kernel = "unknown (threadpoolctl not installed)"
try:
    from threadpoolctl import threadpool_info, threadpool_limits
    threadpool_limits(threads)
    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if info:
        i = info[0]
        kernel = f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} threads={i.get('num_threads')}"
except ImportError:
    pass
rng = np.random.default_rng(1)
a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
c = np.empty((n, n), np.float32)
t0 = time.perf_counter()
w = 0
while w < 5 or (time.perf_counter() - t0 < 1.0 and w < 200):
    np.matmul(a, b, out=c); w += 1
ts = []
for _ in range(iters):
    s = time.perf_counter(); np.matmul(a, b, out=c); ts.append(time.perf_counter() - s)
ts.sort()
med = ts[iters // 2] if iters % 2 else (ts[iters // 2 - 1] + ts[iters // 2]) / 2
print(f"numpy sgemm N={n}: {med * 1e3:.2f} ms, {2 * n**3 / med / 1e9:.1f} GFLOP/s (median of {iters}; best {2 * n**3 / ts[0] / 1e9:.1f} GFLOP/s; {kernel})")
PY
}

java_bench() {
  JAVA_TOOL_OPTIONS="-Dspeedrun.gemm.threads=$THREADS" "${PIN[@]}" "$ROOT/train-app" bench matmul --size "$N" --iters "$ITERS" 2>&1 \
    | grep -v -e '^Picked up JAVA_TOOL_OPTIONS' -e 'Using incubator modules'
}

echo "bench-matmul: N=$N, $THREADS threads, $ROUNDS rounds, median of $ITERS calls; machine: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
best_ratio=0; best_line=""; best_java=0; best_numpy=0; top_java=0; top_numpy=0
for r in $(seq 1 "$ROUNDS"); do
  jout="$(java_bench)"
  nout="$(numpy_bench)"
  jg="$(printf '%s\n' "$jout" | sed -n 's/^matmul .* \([0-9.]*\) GFLOP\/s (median.*/\1/p' | head -1)"
  ng="$(printf '%s\n' "$nout" | sed -n 's/^numpy .* \([0-9.]*\) GFLOP\/s (median.*/\1/p' | head -1)"
  jb="$(printf '%s\n' "$jout" | sed -n 's/^matmul .*; best \([0-9.]*\) GFLOP\/s.*/\1/p' | head -1)"
  nb="$(printf '%s\n' "$nout" | sed -n 's/^numpy .*; best \([0-9.]*\) GFLOP\/s.*/\1/p' | head -1)"
  if [ -z "$jg" ] || [ -z "$ng" ]; then echo "bench-matmul: could not read a GFLOP/s figure:"; echo "$jout"; echo "$nout"; exit 1; fi
  ratio="$(python3 -c "print(f'{$jg / $ng:.2f}')")"
  echo "round $r:"
  printf '  %s\n' "$jout" "$nout"
  echo "  java/numpy (medians) = $ratio"
  line="java $jg GFLOP/s, numpy $ng GFLOP/s, ratio $ratio (round $r)"
  if python3 -c "import sys; sys.exit(0 if $ratio > $best_ratio else 1)"; then best_ratio="$ratio"; best_line="$line"; fi
  best_java="$(python3 -c "print(max($best_java, $jg))")"; best_numpy="$(python3 -c "print(max($best_numpy, $ng))")"
  top_java="$(python3 -c "print(max($top_java, ${jb:-0}))")"; top_numpy="$(python3 -c "print(max($top_numpy, ${nb:-0}))")"
done
echo "best side-by-side round: $best_line"
echo "best median of each: java $best_java GFLOP/s, numpy $best_numpy GFLOP/s, ratio $(python3 -c "print(f'{$best_java / $best_numpy:.2f}')")"
echo "best single call of each: java $top_java GFLOP/s, numpy $top_numpy GFLOP/s, ratio $(python3 -c "print(f'{$top_java / $top_numpy:.2f}' if $top_numpy else 'n/a')")"
