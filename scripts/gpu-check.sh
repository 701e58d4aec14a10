#!/usr/bin/env bash
# One command for a GPU machine: runs the GPU test suite (JUnit tag "gpu": every op against the
# CPU backend, NCCL collectives, FP8 GEMM) and, once the trainer exists, the step benchmark
# (./train-app bench step --backend cuda); prints one table and, when $OUT is set, writes the
# table, the JUnit XML reports and the logs under $OUT.
# Uses Maven when it works here (./mvnw -Pgpu), else the bundle made by scripts/gpu-bundle.sh
# (.gpu-carry: JDK, jars, JUnit console launcher). -Dspeedrun.cuda.sync=true is set so an
# asynchronous kernel fault names its kernel. The suite is killed after GPU_CHECK_TIMEOUT seconds
# (default 480) so a hung kernel cannot eat a whole GPU session.
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

start=$(date +%s)
marker="$(mktemp)"
if [ -d .gpu-carry/lib ]; then
  say "gpu-check: running the GPU suite from .gpu-carry (JUnit console launcher)"
  cp="$(ls .gpu-carry/lib/*.jar | tr '\n' ':').gpu-carry/test-classes"
  timeout "${GPU_CHECK_TIMEOUT:-480}" "$JAVA_HOME/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx8g \
    -Dspeedrun.cuda.sync=true -jar .gpu-carry/junit-platform-console-standalone-*.jar execute \
    -cp "$cp" --select-package dev.speedrun.kernels.cuda --include-tag gpu \
    --details=tree --disable-banner --disable-ansi-colors --reports-dir "$out/reports" >> "$log" 2>&1
  rc=$?
else
  say "gpu-check: running the GPU suite with Maven (-Pgpu)"
  timeout "${GPU_CHECK_TIMEOUT:-480}" ./mvnw -B -o -Pgpu -pl kernels -am test -Dspeedrun.cuda.sync=true >> "$log" 2>&1
  rc=$?
  # only this run's reports (surefire keeps older ones in the folder)
  find kernels/target/surefire-reports -name '*.xml' -newer "$marker" -exec cp {} "$out/reports/" \; 2>/dev/null
fi
say "gpu-check: GPU suite exit code $rc after $(( $(date +%s) - start )) s"

bench="not run (no bench step command yet)"
if [ -x ./train-app ] && ./train-app bench --help 2>&1 | grep -qE "^[[:space:]]+step([[:space:]]|$)"; then
  if ./train-app bench step --backend cuda > "$out/bench-step.txt" 2>&1; then bench="$(tail -1 "$out/bench-step.txt")"; else bench="failed (see bench-step.txt)"; fi
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
  echo "bench step: $bench"
} > "$table"
cat "$table" | tee -a "$log"
grep -hE "^\[gpu\]|FP8|cuBLASLt" "$log" | sort -u | head -20
[ -n "${OUT:-}" ] && echo "gpu-check: results in $out (gpu-results.txt, reports/, gpu-check.log)"
exit $rc
