#!/usr/bin/env bash
# smoke_gpu_sched.sh VAERUN SOURCE_DIR: the GPU scheduler's path (a worker
# process per device, runs as threads) tested on the CPU, without a GPU:
# --backend cpu --streams N trains N runs as threads of one worker,
# --debug-devices K starts K workers as K GPUs would, --debug-mem SIZE makes
# each pretend to have SIZE bytes of device memory.
#  - threaded runs give the same metrics, evaluations, tensors and parameters
#    as the forked path, bit for bit (one CPU thread per run either way);
#  - a NaN in some runs fails those runs alone;
#  - a worker killed with kill -9 takes its device's runs only; running the
#    sweep again resumes them to the same result;
#  - runs that do not fit the device's memory together wait for one another;
#    runs that can never fit fail with a message saying what they needed;
#  - SIGINT stops every threaded run with a checkpoint (interrupted); running
#    again resumes them to the result of an uninterrupted run.
# Skips (77) without MNIST or h5py.
set -u
vaerun="$1"; src="$2"
[[ -f "$src/data/mnist/train-images-idx3-ubyte" ]] || { echo "skipped: no MNIST"; exit 77; }
/usr/bin/python3 -c 'import h5py' 2>/dev/null || { echo "skipped: no h5py"; exit 77; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
export VAERUN_DATA="$src/data/mnist"
fails=0
# shellcheck source=lib.sh
source "$src/tests/lib.sh" || { echo "FAIL no $src/tests/lib.sh"; exit 1; }
small_sweep "$tmp"

# same DIR_A DIR_B: every run of A is done in B too, with equal metrics,
# evaluations, tensors and parameters (wall time aside).
same() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import glob, os, sys, h5py, numpy as np
da, db = sys.argv[1:3]
ids = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(da + "/runs/*/run.h5"))
assert len(ids) >= 2, ids
def flat(g, out, p=""):
    for k in g:
        if isinstance(g[k], h5py.Dataset): out[p + k] = g[k][()]
        else: flat(g[k], out, p + k + "/")
    return out
for i in ids:
    a, b = (h5py.File("%s/runs/%s/run.h5" % (d, i), "r") for d in (da, db))
    assert a.attrs["status"] == "done" and b.attrs["status"] == "done", (i, a.attrs["status"], b.attrs["status"])
    for grp in ("metrics", "eval", "tensors", "params"):
        x, y = flat(a[grp], {}), flat(b[grp], {})
        assert x.keys() == y.keys(), (i, grp, x.keys() ^ y.keys())
        for k in x:
            if k != "wall_s" and not np.array_equal(x[k], y[k], equal_nan=True):
                sys.exit("%s: %s/%s differs: %s vs %s" % (i, grp, k, x[k].ravel()[:4], y[k].ravel()[:4]))
PY
}

# csv DIR: "run_id status message" per row of summary.csv.
csv() {
  /usr/bin/python3 -c 'import csv,sys; [print(r["run_id"], r["status"], r["message"]) for r in csv.DictReader(open(sys.argv[1] + "/summary.csv"))]' "$1"
}

quick=(--no-plot --quiet)

# 1. Threads give what processes give.
"$vaerun" "${quick[@]}" --jobs 2 --out "$tmp/fork" "$tmp/s.yaml" || fail "forked sweep"
out="$("$vaerun" --no-plot --backend cpu --streams 2 --out "$tmp/thr" "$tmp/s.yaml" 2>&1)" || fail "threaded sweep: $out"
grep -q "s: training on cpu:0, 2 runs at once on it" <<<"$out" || fail "no placement line: $out"
grep -q "4 done, 0 already done, 0 failed, 0 interrupted" <<<"$out" || fail "threaded counts: $out"
same "$tmp/fork/s" "$tmp/thr/s" || fail "threaded runs differ from forked ones"
"$vaerun" "${quick[@]}" --backend cpu --streams 1 --debug-devices 2 --out "$tmp/dev2" "$tmp/s.yaml" ||
  fail "2 devices x 1 stream"
same "$tmp/fork/s" "$tmp/dev2/s" || fail "runs on 2 simulated devices differ from forked ones"
out="$("$vaerun" "${quick[@]}" --backend cpu --streams 2 --out "$tmp/thr" "$tmp/s.yaml" 2>&1)"
grep -q "0 done, 4 already done" <<<"$out" || fail "done runs not skipped: $out"

# 2. A NaN fails its run alone.
out="$("$vaerun" "${quick[@]}" --backend cpu --streams 2 --out "$tmp/nan" --debug-nan 0:15 "$tmp/s.yaml" 2>&1)"; rc=$?
[[ $rc -eq 1 ]] || fail "NaN sweep: exit $rc, want 1"
grep -q "2 done, 0 already done, 2 failed" <<<"$out" || fail "NaN runs did not fail alone: $out"
[[ $(csv "$tmp/nan/s" | grep -c "failed.*loss is NaN") -eq 2 ]] || fail "csv after NaN: $(csv "$tmp/nan/s")"

# 3. kill -9 of one device's worker: its runs crash, the other device's finish.
out="$("$vaerun" "${quick[@]}" --backend cpu --streams 2 --debug-devices 2 --out "$tmp/kill" \
       --debug-kill 1:30 "$tmp/s.yaml" 2>&1)"; rc=$?
[[ $rc -eq 1 ]] || fail "--debug-kill: exit $rc, want 1"
[[ $(grep -c "crashed (signal 9) with the worker of cpu:" <<<"$out") -ge 1 ]] || fail "crash not reported: $out"
grep -q "^s: 2 done" <<<"$out" || fail "the other device's runs did not finish: $out"
out="$("$vaerun" --no-plot --backend cpu --streams 2 --debug-devices 2 --out "$tmp/kill" "$tmp/s.yaml" 2>&1)" ||
  fail "resume after kill -9: $out"
grep -q "resuming at step 20" <<<"$out" || fail "did not resume from the checkpoint: $out"
same "$tmp/fork/s" "$tmp/kill/s" || fail "resumed runs differ"

# 4. Device memory. A run of this spec allocates about 4 MiB: with 7 MiB they
# take turns; with 1 MiB none fits, and each says so.
out="$("$vaerun" --no-plot --backend cpu --streams 2 --debug-mem 7M --out "$tmp/mem" "$tmp/s.yaml" 2>&1)" ||
  fail "7M sweep: $out"
grep -qE "waiting for memory on cpu:0: needs about 4\.[0-9] MiB" <<<"$out" || fail "no run waited: $out"
same "$tmp/fork/s" "$tmp/mem/s" || fail "runs that waited differ"
out="$("$vaerun" "${quick[@]}" --backend cpu --streams 2 --debug-mem 1M --out "$tmp/oom" "$tmp/s.yaml" 2>&1)"; rc=$?
[[ $rc -eq 1 ]] || fail "1M sweep: exit $rc, want 1"
grep -q "0 done, 0 already done, 4 failed" <<<"$out" || fail "1M counts: $out"
[[ $(csv "$tmp/oom/s" | grep -c "failed out of memory on cpu:0: this run needs more than") -eq 4 ]] ||
  fail "csv after out of memory: $(csv "$tmp/oom/s")"

# 5. SIGINT: every threaded run stops with a checkpoint, and resumes.
sed 's/steps: 60/steps: 8000/; s/checkpoint_every: 20/checkpoint_every: 1000/; s/eval_every: 30/eval_every: 4000/; s/log_every: 10/log_every: 200/' \
  "$tmp/base.yaml" > "$tmp/longbase.yaml"
cat > "$tmp/long.yaml" <<'Y'
name: long
base: longbase.yaml
seeds: [0, 1]
Y
"$vaerun" "${quick[@]}" --backend cpu --streams 2 --out "$tmp/int" "$tmp/long.yaml" 2>/dev/null &
pid=$!
for _ in $(seq 100); do
  [[ -f "$tmp/int/long/runs/seed0/run.h5" && -f "$tmp/int/long/runs/seed1/run.h5" ]] && break; sleep 0.05
done
sleep 0.3
kill -INT $pid
wait $pid; rc=$?
[[ $rc -eq 1 ]] || fail "SIGINT: exit $rc, want 1"
st="$(csv "$tmp/int/long")"
[[ $(grep -c "interrupted interrupted at step" <<<"$st") -eq 2 ]] || fail "after SIGINT: $st"
out="$("$vaerun" --no-plot --backend cpu --streams 2 --out "$tmp/int" "$tmp/long.yaml" 2>&1)" ||
  fail "resume after SIGINT: $out"
[[ $(grep -c "resuming at step" <<<"$out") -eq 2 ]] || fail "not resumed: $out"
"$vaerun" "${quick[@]}" --jobs 2 --out "$tmp/int_ref" "$tmp/long.yaml" || fail "uninterrupted long sweep"
same "$tmp/int_ref/long" "$tmp/int/long" || fail "SIGINT-resumed threaded runs differ"

echo "$fails failed"
exit $((fails ? 1 : 0))
