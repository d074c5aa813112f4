#!/usr/bin/env bash
# smoke_resume.sh VAERUN SOURCE_DIR: nothing is lost.
#  - a run killed with SIGKILL mid-training (--debug-kill) resumes from its
#    last checkpoint and ends with metrics, evaluations and parameters
#    identical to an uninterrupted run (bit for bit, wall time aside);
#  - SIGINT stops a run between steps: status interrupted, exit 1; running
#    again resumes it to the same result;
#  - a failed run is skipped on the next run, and retrained with --retry-failed.
# Skips (77) without MNIST or h5py.
set -u
vaerun="$1"; src="$2"
[[ -f "$src/data/mnist/train-images-idx3-ubyte" ]] || { echo "skipped: no MNIST"; exit 77; }
/usr/bin/python3 -c 'import h5py' 2>/dev/null || { echo "skipped: no h5py"; exit 77; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fails=0
# shellcheck source=lib.sh
source "$src/tests/lib.sh" || { echo "FAIL no $src/tests/lib.sh"; exit 1; }

cat > "$tmp/r.yaml" <<'Y'
name: r
data: {train: 2000, test: 200}
model: {arch: mlp, hidden: [64], latent: 4}
objective: {kind: geco, geco: {target: -150, lr: 0.001, variant: moving_average}}
train: {steps: 120, batch: 32, log_every: 10, eval_every: 40, checkpoint_every: 25, threads: 1}
eval: {iwae_samples: 5, iwae_images: 50}
seeds: [0]
Y
run_h5() { echo "$tmp/$1/r/runs/seed0/run.h5"; }

# same FILE_A FILE_B: metrics, evals and params equal (wall_s aside), both done.
same() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
assert a.attrs["status"] == "done" and b.attrs["status"] == "done", (a.attrs["status"], b.attrs["status"])
def flat(g, out, p=""):
    for k in g:
        if isinstance(g[k], h5py.Dataset): out[p + k] = g[k][()]
        else: flat(g[k], out, p + k + "/")
    return out
for grp in ("metrics", "eval", "params"):
    x, y = flat(a[grp], {}), flat(b[grp], {})
    assert x.keys() == y.keys(), (grp, x.keys() ^ y.keys())
    for k in x:
        if k != "wall_s" and not np.array_equal(x[k], y[k], equal_nan=True):
            sys.exit("%s/%s differs: %s vs %s" % (grp, k, x[k][:5], y[k][:5]))
assert "checkpoint" not in b, "a done file keeps no checkpoint"
PY
}

"$vaerun" --no-plot --quiet --out "$tmp/a" "$tmp/r.yaml" || fail "uninterrupted run"

# kill -9 of the run after step 60: the file says running and holds the
# step-50 checkpoint; the sweep reports the crash and exits 1.
out="$("$vaerun" --no-plot --quiet --out "$tmp/b" --debug-kill 0:60 "$tmp/r.yaml" 2>&1)"
rc=$?; [[ $rc -eq 1 ]] || fail "--debug-kill: exit $rc, want 1"
grep -q "crashed (signal 9)" <<<"$out" || fail "the crash is not reported: $out"
status=$(/usr/bin/python3 -c "import h5py,sys; print(h5py.File(sys.argv[1])['/'].attrs['status'])" "$(run_h5 b)")
[[ $status == running ]] || fail "after kill -9 the status is '$status', want running"
out="$("$vaerun" --no-plot --out "$tmp/b" "$tmp/r.yaml" 2>&1)" || fail "resume after kill -9: $out"
grep -q "resuming at step 50" <<<"$out" || fail "did not resume from step 50: $out"
same "$(run_h5 a)" "$(run_h5 b)" || fail "resumed run differs from the uninterrupted one"

# SIGINT: a longer run, interrupted, then resumed.
sed 's/steps: 120/steps: 6000/; s/checkpoint_every: 25/checkpoint_every: 500/' "$tmp/r.yaml" > "$tmp/long.yaml"
"$vaerun" --no-plot --quiet --out "$tmp/c" "$tmp/long.yaml" 2>/dev/null &
pid=$!
sleep 1.5
kill -INT $pid
wait $pid; rc=$?
[[ $rc -eq 1 ]] || fail "SIGINT: exit $rc, want 1"
h5=$tmp/c/r/runs/seed0/run.h5
status=$(/usr/bin/python3 -c "import h5py,sys; print(h5py.File(sys.argv[1])['/'].attrs['status'])" "$h5")
[[ $status == interrupted ]] || fail "after SIGINT the status is '$status', want interrupted"
"$vaerun" --no-plot --quiet --out "$tmp/c" "$tmp/long.yaml" || fail "resume after SIGINT"
"$vaerun" --no-plot --quiet --out "$tmp/d" "$tmp/long.yaml" || fail "uninterrupted long run"
same "$h5" "$tmp/d/r/runs/seed0/run.h5" || fail "SIGINT-resumed run differs"

# failed runs: skipped, then retried on request.
"$vaerun" --no-plot --quiet --out "$tmp/e" --debug-nan 0:15 "$tmp/r.yaml" 2>/dev/null && fail "NaN run exited 0"
out="$("$vaerun" --no-plot --quiet --out "$tmp/e" "$tmp/r.yaml" 2>&1)"; rc=$?
[[ $rc -eq 1 ]] && grep -q "retry-failed" <<<"$out" || fail "failed run not skipped: $rc $out"
"$vaerun" --no-plot --quiet --out "$tmp/e" --retry-failed "$tmp/r.yaml" || fail "--retry-failed"
same "$(run_h5 a)" "$(run_h5 e)" || fail "retried run differs from a fresh one"

echo "$fails failed"
exit $((fails ? 1 : 0))
