#!/usr/bin/env bash
# Fresh-machine check: clones this repository (its committed HEAD) into an empty temporary folder,
# with nothing beside it (no ../shared, no build output), and runs there what a new user runs:
# README's test command (exactly as .ci/run reads it) and a short `./train-app train`.
#
#   scripts/fresh-clone-check.sh [--fresh-m2] [--steps N] [--keep]
#     --fresh-m2  also start from an empty Maven repository (downloads every dependency, as on a
#                 new machine; slower)
#     --steps N   training steps of the train run (default 20)
#     --keep      keep the temporary folder (printed) instead of deleting it
# Exit code 0 when both commands succeed; the log of each is in the temporary folder.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
fresh_m2=0 steps=20 keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --fresh-m2) fresh_m2=1 ;;
    --steps) steps="${2:?--steps needs a number}"; shift ;;
    --keep) keep=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "fresh-clone-check: unknown argument '$1' (valid: --fresh-m2, --steps N, --keep)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$(git -C "$src" status --porcelain --untracked-files=no)" ] \
  && echo "fresh-clone-check: note: uncommitted changes in $src are not part of the clone" >&2

tmp="$(mktemp -d)"
[ "$keep" = 1 ] || trap 'rm -rf "$tmp"' EXIT
git clone -q "$src" "$tmp/repo"
cd "$tmp/repo"
[ ! -e ../shared ] || { echo "fresh-clone-check: $tmp/shared exists" >&2; exit 1; }
if [ "$fresh_m2" = 1 ]; then
  mkdir -p "$tmp/m2"
  export MAVEN_ARGS="-Dmaven.repo.local=$tmp/m2 ${MAVEN_ARGS:-}"
fi
echo "fresh-clone-check: clone of $(git rev-parse --short HEAD) in $tmp/repo$([ "$fresh_m2" = 1 ] && echo ", empty Maven repository $tmp/m2")"

t0=$(date +%s)
echo "fresh-clone-check: [1/2] CI=true bash .ci/run (README's test command)"
if ! CI=true bash .ci/run > "$tmp/verify.log" 2>&1; then
  tail -40 "$tmp/verify.log"; echo "fresh-clone-check: FAILED: the test command (log: $tmp/verify.log)" >&2; keep=1; trap - EXIT; exit 1
fi
t1=$(date +%s)
summary=$(grep -E '^\[(INFO|WARNING|ERROR)\] Tests run: [0-9]+, Failures' "$tmp/verify.log" | grep -v ' -- in ' \
  | awk -F'[ ,]+' '{r+=$4; f+=$6; e+=$8; s+=$10} END {printf "%d tests, %d failures, %d errors, %d skipped", r, f, e, s}')
echo "fresh-clone-check: test command passed in $((t1 - t0)) s: $summary"

echo "fresh-clone-check: [2/2] ./train-app train --steps $steps"
if ! ./train-app train --steps "$steps" > "$tmp/train.log" 2>&1; then
  tail -40 "$tmp/train.log"; echo "fresh-clone-check: FAILED: ./train-app train (log: $tmp/train.log)" >&2; keep=1; trap - EXIT; exit 1
fi
t2=$(date +%s)
grep -E 'val_loss' "$tmp/train.log" | tail -2
if grep -q '^WARNING' "$tmp/train.log"; then
  grep '^WARNING' "$tmp/train.log" | head -5; echo "fresh-clone-check: FAILED: JVM warnings on the first screen" >&2; exit 1
fi
echo "fresh-clone-check: train ran in $((t2 - t1)) s, no JVM warnings"
echo "fresh-clone-check: OK"
