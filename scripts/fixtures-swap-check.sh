#!/usr/bin/env bash
# Shows that -Dfixtures.dir swaps the fixture set of every module: the fixture-driven tests pass on
# an unchanged copy of fixtures/ in another folder, and fail in every module when each fixture
# file has one reference value perturbed (by 1%). Needs python3 (to edit the JSON/CSV copies).
#   scripts/fixtures-swap-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cp -r fixtures "$tmp/copy"; cp -r fixtures "$tmp/perturbed"; chmod -R u+w "$tmp"
python3 - "$tmp/perturbed" <<'PY'
import csv, json, sys
d = sys.argv[1]
def edit(name, f):
    p = f"{d}/{name}"; o = json.load(open(p)); f(o); json.dump(o, open(p, "w"))
edit("model_tiny.json", lambda o: o["results"][0].__setitem__("loss", o["results"][0]["loss"] * 1.01))
edit("mtp_loss.json", lambda o: o["weights=[1.0]"].__setitem__("loss_sum", o["weights=[1.0]"]["loss_sum"] * 1.01))
edit("optimizers.json", lambda o: o["polar_express"]["output"][0].__setitem__(0, o["polar_express"]["output"][0][0] * 1.01))
edit("bos_batches.json", lambda o: o["tokens"].__setitem__(0, o["tokens"][0] + 1 if o["tokens"][0] != o["bos_id"] - 1 else 0))
def yarn(o):
    s = o["states"][0]; k = "attn_scale"; s[k] = s[k] * 1.01
edit("yarn_record178.json", yarn)
rows = list(csv.reader(open(f"{d}/schedules_record178.csv")))
head = rows[0]
rows[10][head.index("lr_multiplier")] = str(float(rows[10][head.index("lr_multiplier")]) * 1.01)
rows[10][head.index("mtp_w1")] = str(float(rows[10][head.index("mtp_w1")]) * 1.01)
rows[10][head.index("embed_split")] = str(1 - int(rows[10][head.index("embed_split")]))
csv.writer(open(f"{d}/schedules_record178.csv", "w", newline=""), lineterminator="\n").writerows(rows)
PY
tests='FixturesTest,SoftcapCrossEntropyTest,CpuLossTest,FixtureParityTest,CheckpointTest,MixedPrecisionTest,YarnTest,OptimizerFixtureTest,RecordSchedulesTest,BosBatchesFixtureTest,MtpPluginTest,UntieScheduleTest,LossCommandTest,BuiltInRecordConfigsTest'
run() { ./mvnw -B -ntp -Dcuda.skip=true -Dfixtures.dir="$1" -Dtest="$tests" -Dsurefire.failIfNoSpecifiedTests=false \
          -Dmaven.test.failure.ignore=true verify -pl app -am > "$2" 2>&1 || true; }
echo "fixtures-swap-check: unchanged copy in $tmp/copy"
run "$tmp/copy" "$tmp/copy.log"
grep -E '^\[(INFO|WARNING|ERROR)\] Tests run:' "$tmp/copy.log" | grep -v ' -- in ' || true
if grep -qE 'Tests run: [0-9]+, Failures: [1-9]|Errors: [1-9]|BUILD FAILURE' "$tmp/copy.log"; then
  echo "fixtures-swap-check: FAILED: the copy did not pass" >&2; exit 1; fi
echo "fixtures-swap-check: perturbed copy in $tmp/perturbed"
run "$tmp/perturbed" "$tmp/perturbed.log"
failed=$(grep -E '^\[ERROR\] (Failures|Errors):|^\[ERROR\]   [A-Za-z]+Test' "$tmp/perturbed.log" | grep -oE '[A-Za-z]+Test\.[A-Za-z0-9_]+' | sort -u)
echo "$failed" | sed 's/^/  failed: /'
missing=0
for t in SoftcapCrossEntropyTest CpuLossTest FixtureParityTest OptimizerFixtureTest RecordSchedulesTest BosBatchesFixtureTest MtpPluginTest UntieScheduleTest LossCommandTest YarnTest; do
  echo "$failed" | grep -q "^$t\." || { echo "fixtures-swap-check: $t did not fail on the perturbed set" >&2; missing=1; }
done
[ "$missing" = 0 ] || exit 1
echo "fixtures-swap-check: OK (the copy passes; every fixture-driven test class fails on the perturbed set)"
