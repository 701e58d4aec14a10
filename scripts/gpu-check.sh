#!/usr/bin/env bash
# One command for a GPU machine: runs the GPU test suite (JUnit tag "gpu", all modules: every op
# against the CPU backend, NCCL collectives, FP8 GEMM; the model's fixture losses, 20 training
# steps mixed-vs-CPU and a record-size step) and then the step benchmark (bench step --backend
# cuda --preset record178 --tokens 16384,49152 --dtype mixed); prints one table and, when $OUT is
# set, writes the table, the JUnit XML reports and the logs under $OUT. Where python3 has torch with
# CUDA, the PyTorch reference (bench/pytorch) runs at the same sizes, and the table gains a side-by-side
# section (ours/PyTorch in tokens/s, MFU) and a loss comparison of both on identical weights and batch.
# Uses Maven when it works here (./mvnw -Pgpu), else the bundle made by scripts/gpu-bundle.sh
# (.gpu-carry: JDK, jars, JUnit console launcher). -Dspeedrun.cuda.sync=true is set so an
# asynchronous kernel fault names its kernel. The suite is killed after GPU_CHECK_TIMEOUT seconds
# (default 330), our benchmark after GPU_BENCH_TIMEOUT (default 120) and PyTorch's after
# GPU_PY_BENCH_TIMEOUT (default 90), all within GPU_CHECK_BUDGET (560), so a hung kernel cannot eat
# a whole GPU session.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-$(mktemp -d)}"; mkdir -p "$out/reports"
log="$out/gpu-check.log"
: > "$log"
say() { echo "$*" | tee -a "$log"; }

if [ -x .gpu-carry/jdk/bin/java ]; then JAVA_HOME="$PWD/.gpu-carry/jdk"
elif [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then :
elif [ -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]; then JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
elif command -v java >/dev/null; then JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
else say "gpu-check: no Java found (carry a jlink-ed JDK: scripts/gpu-bundle.sh)"; exit 2; fi
export JAVA_HOME PATH="$JAVA_HOME/bin:$PATH"
say "gpu-check: java $("$JAVA_HOME/bin/java" -version 2>&1 | head -1)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee -a "$log"

# fixtures of the model GPU tests: carried by the bundle, else the project's own copy
if [ -f .gpu-carry/fixtures/model_tiny.json ]; then fixtures="$PWD/.gpu-carry/fixtures"
else fixtures="$PWD/fixtures"; fi
jvm=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED)
bench_args=(bench step --backend cuda --preset record178 --tokens 16384,49152 --dtype mixed --iters 3 --warmup 1)

start=$(date +%s)
# One budget for the whole check (GPU_CHECK_BUDGET, default 560 s, under the device tool's 600 s per
# call): each stage gets at most its own limit and never more than what is left, so the table and
# the files under $OUT always come back.
deadline=$(( start + ${GPU_CHECK_BUDGET:-560} ))
limit() { local l=$(( deadline - $(date +%s) - 10 )); [ "$l" -gt "$1" ] && l=$1; [ "$l" -lt 1 ] && l=1; echo "$l"; }
marker="$(mktemp)"
if [ -d .gpu-carry/lib ]; then
  say "gpu-check: running the GPU suite from .gpu-carry (JUnit console launcher)"
  cp="$(ls .gpu-carry/lib/*.jar | tr '\n' ':').gpu-carry/test-classes"
  timeout "$(limit "${GPU_CHECK_TIMEOUT:-330}")" "$JAVA_HOME/bin/java" "${jvm[@]}" -Xmx16g \
    -Dspeedrun.cuda.sync=true -Dfixtures.dir="$fixtures" -jar .gpu-carry/junit-platform-console-standalone-*.jar execute \
    -cp "$cp" --select-package dev.speedrun.kernels.cuda --select-package dev.speedrun.app.gpu --include-tag gpu \
    --details=tree --disable-banner --disable-ansi-colors --reports-dir "$out/reports" >> "$log" 2>&1
  rc=$?
  bench_cmd=("$JAVA_HOME/bin/java" "${jvm[@]}" -Xmx16g -cp "$cp" dev.speedrun.app.Main "${bench_args[@]}")
  loss_cmd=("$JAVA_HOME/bin/java" "${jvm[@]}" -Xmx16g -cp "$cp" dev.speedrun.app.Main)
else
  say "gpu-check: running the GPU suite with Maven (-Pgpu, every module up to the app)"
  timeout "$(limit "${GPU_CHECK_TIMEOUT:-330}")" ./mvnw -B -o -Pgpu -pl app -am test -Dspeedrun.cuda.sync=true -Dfixtures.dir="$fixtures" >> "$log" 2>&1
  rc=$?
  # only this run's reports (surefire keeps older ones in the folder)
  find . -path '*/target/surefire-reports/*.xml' -newer "$marker" -exec cp {} "$out/reports/" \; 2>/dev/null
  bench_cmd=(./train-app "${bench_args[@]}")
  loss_cmd=(./train-app)
fi
say "gpu-check: GPU suite exit code $rc after $(( $(date +%s) - start )) s"

# The step benchmark at the record's size in its mixed precision (rows: tokens, windows, ms/step, tokens/s, GFLOP/s).
if [ -z "${GPU_CHECK_NO_BENCH:-}" ]; then
  say "gpu-check: ${bench_args[*]}"
  if timeout "$(limit "${GPU_BENCH_TIMEOUT:-120}")" "${bench_cmd[@]}" > "$out/bench-step.txt" 2>&1; then
    bench="$(grep -E '^(bench step:|[[:space:]]+(tokens|[0-9]+)[[:space:]])' "$out/bench-step.txt")"
  else
    bench="failed or timed out (exit $?; see bench-step.txt): $(tail -3 "$out/bench-step.txt")"
  fi
else
  bench="skipped (GPU_CHECK_NO_BENCH set)"
fi

# The PyTorch reference (bench/pytorch) at the same sizes, where torch with CUDA is installed:
# torch.compile + FlexAttention, FP8 LM head on sm_89+, the same windows and document layout.
py_bench="skipped (no python3 with torch and CUDA here)"
if [ -z "${GPU_CHECK_NO_BENCH:-}" ] && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  py_args=(step --preset record178 --tokens 16384,49152 --dtype mixed --iters 3 --warmup 1 --json "$out/bench-step-pytorch.json")
  say "gpu-check: python3 bench/pytorch/bench.py ${py_args[*]}"
  if timeout "$(limit "${GPU_PY_BENCH_TIMEOUT:-90}")" python3 bench/pytorch/bench.py "${py_args[@]}" > "$out/bench-step-pytorch.txt" 2>&1; then
    py_bench="$(grep -E '^(pytorch bench step:|[[:space:]]+(tokens|[0-9]+)[[:space:]])' "$out/bench-step-pytorch.txt")"
  else
    py_bench="failed or timed out (exit $?; see bench-step-pytorch.txt): $(tail -3 "$out/bench-step-pytorch.txt")"
  fi
fi

# Side by side (bench/side_by_side.py): ms per micro-step, tokens/s, MFU and ours/PyTorch per token
# count; then both implementations' losses on one case (identical weights and batch, written by
# bench.py case at the record's size), F32 on both sides, relative tolerance 1e-2.
side="skipped (no rows from our bench step)"; losses="skipped (no python3 with torch and CUDA here)"
if [ -f "$out/bench-step.txt" ] && grep -qE '^[[:space:]]+[0-9]+[[:space:]]' "$out/bench-step.txt"; then
  pt=(); [ -f "$out/bench-step-pytorch.json" ] && pt=(--pytorch "$out/bench-step-pytorch.json")
  side="$(python3 bench/side_by_side.py table --ours "$out/bench-step.txt" "${pt[@]}" 2>&1)"
fi
if [ -z "${GPU_CHECK_NO_BENCH:-}" ] && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  case_dir="$out/loss-case"; rm -rf "$case_dir"
  if timeout "$(limit 40)" python3 bench/pytorch/bench.py case --out "$case_dir" --preset record178 --tokens 16384 >> "$log" 2>&1 \
     && timeout "$(limit 40)" python3 bench/pytorch/bench.py loss --case "$case_dir/case.json" --dtype f32 > "$out/loss-pytorch.jsonl" 2>> "$log" \
     && timeout "$(limit 60)" "${loss_cmd[@]}" loss --case "$case_dir/case.json" --backend cuda --dtype f32 > "$out/loss-ours.jsonl" 2>> "$log"; then
    losses="$(python3 bench/side_by_side.py losses --ours "$out/loss-ours.jsonl" --pytorch "$out/loss-pytorch.jsonl" 2>&1)"
  else
    losses="failed or timed out (see gpu-check.log)"
  fi
  rm -f "$case_dir"/*.safetensors   # ~0.5 GB of random weights: not worth bringing back
fi

# Last, if the budget allows: our step with CUDA graphs off (what the graphs save in host time on
# this GPU) and the device profile of one record-size step (launches, host syncs, the estimate at
# this GPU's peak rates against the measured time above).
nographs="skipped (GPU_CHECK_NO_BENCH set, or under 60 s of the budget left)"; profile="$nographs"
if [ -z "${GPU_CHECK_NO_BENCH:-}" ] && [ "$(limit 600)" -gt 60 ]; then
  ng_args=(bench step --backend cuda --preset record178 --tokens 49152 --dtype mixed --iters 3 --warmup 1 --no-graphs)
  say "gpu-check: ${ng_args[*]}"
  if timeout "$(limit 60)" "${loss_cmd[@]}" "${ng_args[@]}" > "$out/bench-step-nographs.txt" 2>&1; then
    nographs="$(grep -E '^(bench step:|[[:space:]]+(tokens|[0-9]+)[[:space:]])' "$out/bench-step-nographs.txt")"
  else
    nographs="failed or timed out (exit $?; see bench-step-nographs.txt)"
  fi
fi
if [ -z "${GPU_CHECK_NO_BENCH:-}" ] && [ "$(limit 600)" -gt 60 ]; then
  pr_args=(bench step --backend cuda --preset record178 --tokens 16384 --dtype mixed --with-optimizer --iters 1 --warmup 0 --profile "$out/profile.json")
  say "gpu-check: ${pr_args[*]}"
  if timeout "$(limit 60)" "${loss_cmd[@]}" "${pr_args[@]}" > "$out/bench-step-profile.txt" 2>&1; then
    profile="$(grep -E '^profile ' "$out/bench-step-profile.txt")"
  else
    profile="failed or timed out (exit $?; see bench-step-profile.txt)"
  fi
fi

# One table from the JUnit XML reports: one row per test case.
table="$out/gpu-results.txt"
{
  printf '%-28s %-62s %-8s %8s\n' class test result seconds
  for f in "$out"/reports/*.xml; do
    [ -f "$f" ] || continue
    awk '
      /<testcase / {
        match($0, /classname="[^"]*"/); cls = substr($0, RSTART + 11, RLENGTH - 12); sub(/.*\./, "", cls)
        match($0, / name="[^"]*"/); nm = substr($0, RSTART + 7, RLENGTH - 8)
        match($0, /time="[^"]*"/); tm = substr($0, RSTART + 6, RLENGTH - 7)
        res = "pass"; pending = 1
        if ($0 ~ /\/>[[:space:]]*$/) { printf "%-28s %-62s %-8s %8s\n", cls, substr(nm, 1, 62), res, tm; pending = 0 }
        next
      }
      pending && /<skipped/ { res = "SKIP" }
      pending && /<failure/ { res = "FAIL" }
      pending && /<error/ { res = "ERROR" }
      pending && /<\/testcase>/ { printf "%-28s %-62s %-8s %8s\n", cls, substr(nm, 1, 62), res, tm; pending = 0 }
    ' "$f"
  done
  echo
  echo "bench step (${bench_args[*]}):"
  echo "$bench"
  echo
  echo "PyTorch reference, same sizes (bench/pytorch/bench.py step):"
  echo "$py_bench"
  echo
  echo "side by side (bench/side_by_side.py table):"
  echo "$side"
  echo
  echo "bench step with CUDA graphs off (49,152 tokens):"
  echo "$nographs"
  echo
  echo "device profile of one record-size step (16,384 tokens, with the optimizer):"
  echo "$profile"
  echo
  echo "losses on one case, ours vs PyTorch (record178, 16384 tokens, f32; bench/side_by_side.py losses):"
  echo "$losses"
} > "$table"
cat "$table" | tee -a "$log"
grep -hE "^\[gpu\]|FP8|cuBLASLt" "$log" | sort -u | head -20
[ -n "${OUT:-}" ] && echo "gpu-check: results in $out (gpu-results.txt, reports/, gpu-check.log)"
exit $rc
