#!/usr/bin/env bash
# The kill/resume drill at length: N SIGKILLs of a tiny training run at seeded random points
# (inside a step, a validation, a checkpoint write, between a checkpoint's rename and `latest`,
# and at random moments), each followed by `--resume`; every run must end bit-identical to an
# uninterrupted one (weights, optimizer state, gradients, data position, metrics).
# Usage: scripts/kill-soak.sh N [SEED]      (CI runs the short drill: KillResumeTest, 3 kills + 1 SIGINT)
# Prints "KillResumeTest soak: K kills survived over R runs (...)" at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:?usage: scripts/kill-soak.sh N [SEED]}"; SEED="${2:-2026}"
case "$N" in ''|*[!0-9]*) echo "kill-soak: N must be a number of kills, got '$N'" >&2; exit 2;; esac
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
cd "$ROOT"
LOG="$(mktemp "${TMPDIR:-/tmp}/kill-soak.XXXXXX.log")"
if ./mvnw -B -ntp -o -pl app -am verify -Dcuda.skip=true -Dcuda.emu.skip=true \
     -Dtest='KillResumeTest#soak' -Dsurefire.failIfNoSpecifiedTests=false \
     -Dkill.soak="$N" -Dkill.soak.seed="$SEED" >"$LOG" 2>&1; then
  grep -h "KillResumeTest soak:" "$LOG"
else
  tail -60 "$LOG"; echo "kill-soak: FAILED (full log: $LOG)" >&2; exit 1
fi
