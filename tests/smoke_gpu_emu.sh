#!/usr/bin/env bash
# smoke_gpu_emu.sh VAERUN SOURCE_DIR: the whole --backend cuda path of a
# sweep (GPUs counted in a child, a worker process per device, runs as
# threads each with its own CUDA backend, memory admission through
# cudaMemGetInfo, graphs, checkpoints from the device) on the CPU emulation
# of CUDA (tests/gpu_emu/), with two emulated devices:
#  - every run is done, with the metrics of the CPU path (within 1e-4);
#  - run.h5 says backend cuda and names the device;
#  - kill -9 of one device's worker fails its runs only, and running the
#    sweep again resumes them;
#  - SIGINT stops every run with a checkpoint; running again finishes them.
# Needs vaerun_emu (vaerun linked with the emulation) beside the tests:
# VAERUN_EMU, else <dir of VAERUN>/tests/vaerun_emu; skips (77) without it,
# MNIST or h5py.
set -u
vaerun="$1"; src="$2"
emu="${VAERUN_EMU:-$(dirname "$vaerun")/tests/vaerun_emu}"
[[ -x "$emu" ]] || { echo "skipped: no $emu (vaerun linked with tests/gpu_emu)"; exit 77; }
[[ -f "$src/data/mnist/train-images-idx3-ubyte" ]] || { echo "skipped: no MNIST"; exit 77; }
/usr/bin/python3 -c 'import h5py' 2>/dev/null || { echo "skipped: no h5py"; exit 77; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
export VAERUN_DATA="$src/data/mnist" VR_EMU_DEVICES=2 ASAN_OPTIONS=detect_leaks=0
fails=0
# shellcheck source=lib.sh
source "$src/tests/lib.sh" || { echo "FAIL no $src/tests/lib.sh"; exit 1; }
small_sweep "$tmp"

# close DIR_A DIR_B: every run done in both; metrics and evaluations within
# 1e-4 (relative), the device's summation order aside.
close() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import glob, os, sys, h5py, numpy as np
da, db = sys.argv[1:3]
ids = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(da + "/runs/*/run.h5"))
assert len(ids) == 4, ids
for i in ids:
    a, b = (h5py.File("%s/runs/%s/run.h5" % (d, i), "r") for d in (da, db))
    assert a.attrs["status"] == "done" and b.attrs["status"] == "done", (i, a.attrs["status"], b.attrs["status"])
    for grp in ("metrics", "eval"):
        for k in a[grp]:
            if k == "wall_s": continue
            x, y = a[grp][k][()], b[grp][k][()]
            if not np.allclose(x, y, rtol=1e-4, atol=1e-4, equal_nan=True):
                sys.exit("%s: %s/%s differs: %s vs %s" % (i, grp, k, x[-3:], y[-3:]))
PY
}

"$vaerun" --no-plot --quiet --backend cpu --jobs 2 --out "$tmp/cpu" "$tmp/s.yaml" || fail "CPU sweep"

out="$("$emu" --no-plot --backend cuda --streams 2 --out "$tmp/gpu" "$tmp/s.yaml" 2>&1)" || fail "emulated GPU sweep: $out"
grep -q "s: training on cuda:0, cuda:1, 2 runs at once on each" <<<"$out" || fail "placement: $out"
close "$tmp/cpu/s" "$tmp/gpu/s" || fail "GPU runs differ from CPU runs"
/usr/bin/python3 - "$tmp/gpu/s" <<'PY' || fail "run.h5 does not name the GPU"
import glob, sys, h5py
for p in glob.glob(sys.argv[1] + "/runs/*/run.h5"):
    f = h5py.File(p, "r")
    assert f.attrs["backend"] == "cuda" and f.attrs["device"].startswith("cuda:"), dict(f.attrs)
PY

# kill -9 of cuda:1's worker (the seed-1 runs go there): seed 0 finishes.
out="$("$emu" --no-plot --quiet --streams 2 --out "$tmp/kill" --debug-kill 1:30 "$tmp/s.yaml" 2>&1)"; rc=$?
[[ $rc -eq 1 ]] || fail "--debug-kill: exit $rc, want 1"
grep -q "crashed (signal 9) with the worker of cuda:1" <<<"$out" || fail "crash not reported: $out"
grep -q "^s: 2 done" <<<"$out" || fail "cuda:0's runs did not finish: $out"
out="$("$emu" --no-plot --streams 2 --out "$tmp/kill" "$tmp/s.yaml" 2>&1)" || fail "resume: $out"
grep -q "resuming at step 20" <<<"$out" || fail "did not resume: $out"
close "$tmp/cpu/s" "$tmp/kill/s" || fail "resumed GPU runs differ"

# SIGINT: both threads' runs checkpoint and say interrupted; then finish.
sed 's/steps: 60/steps: 120/; s/checkpoint_every: 20/checkpoint_every: 50/; s/eval_every: 30/eval_every: 60/' \
  "$tmp/base.yaml" > "$tmp/lb.yaml"
printf 'name: l\nbase: lb.yaml\nseeds: [0, 1]\n' > "$tmp/l.yaml"
"$emu" --no-plot --quiet --devices 0 --streams 2 --out "$tmp/int" "$tmp/l.yaml" 2>/dev/null &
pid=$!
for _ in $(seq 200); do
  [[ -f "$tmp/int/l/runs/seed0/run.h5" && -f "$tmp/int/l/runs/seed1/run.h5" ]] && break; sleep 0.1
done
sleep 1
kill -INT $pid
wait $pid; rc=$?
[[ $rc -eq 1 ]] || fail "SIGINT: exit $rc, want 1"
st="$(/usr/bin/python3 -c 'import csv,sys; [print(r["status"], r["message"]) for r in csv.DictReader(open(sys.argv[1]))]' "$tmp/int/l/summary.csv")"
[[ $(grep -c "^interrupted interrupted at step" <<<"$st") -eq 2 ]] || fail "after SIGINT: $st"
out="$("$emu" --no-plot --devices 0 --streams 2 --out "$tmp/int" "$tmp/l.yaml" 2>&1)" || fail "resume after SIGINT: $out"
[[ $(grep -c "resuming at step" <<<"$out") -eq 2 ]] || fail "not resumed: $out"

echo "$fails failed"
exit $((fails ? 1 : 0))
