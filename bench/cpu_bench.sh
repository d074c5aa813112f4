#!/usr/bin/env bash
# cpu_bench.sh: training steps/s of vaerun's CPU backend next to PyTorch
# (bench/pytorch_vae.py) on the identical model, batch 64, float32, Adam.
#
# Usage: bench/cpu_bench.sh [--models "standard mlp"] [--vaerun PATH]
#        env STEPS_STANDARD=400 STEPS_MLP=4000 (vaerun's and PyTorch's steps)
# Run from anywhere; it works in the repository root. Needs build/vaerun,
# data/mnist, /usr/bin/python3 with torch and h5py, gcc and OpenBLAS
# (openblas-openmp pkg-config). Run nothing else on the machine meanwhile.
#
# Measures, one run at a time:
#   vaerun T=1, T=2      steps/s from /metrics (first to last logged row, so
#                        the step-0 evaluation and the first 50 steps are out)
#   PyTorch T=1          OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 --threads 1
#   PyTorch T=2          OMP=2 OPENBLAS=1 and OMP=2 OPENBLAS=2, --threads 2;
#                        the better one goes in the table
#   sgemm 1024^3         bench/sgemm_peak.c at 1 and 2 OpenBLAS threads
# and prints a Markdown table with the FLOPs per step (see bench/README.md
# for the formula), vaerun's GFLOP/s and the vaerun / PyTorch ratio.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

MODELS="standard mlp"
VAERUN=build/vaerun
PY=/usr/bin/python3
while [ $# -gt 0 ]; do
    case "$1" in
        --models) MODELS=$2; shift 2 ;;
        --vaerun) VAERUN=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "cpu_bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
STEPS_STANDARD=${STEPS_STANDARD:-400}
STEPS_MLP=${STEPS_MLP:-4000}
LOG_EVERY=50
PT_TIMEOUT=${PT_TIMEOUT:-300}   # the oversubscribed split can be very slow

[ -x "$VAERUN" ] || { echo "cpu_bench.sh: $VAERUN not built" >&2; exit 1; }
TMP=$(mktemp -d /tmp/cpu_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

config_of() { case "$1" in standard) echo configs/mnist_elbo.yaml ;; mlp) echo configs/mnist_mlp.yaml ;; esac; }
steps_of()  { case "$1" in standard) echo "$STEPS_STANDARD" ;; mlp) echo "$STEPS_MLP" ;; esac; }

# ---- FLOPs per training step -------------------------------------------
# Per layer, forward MACs per image:
#   dense  in -> out:                       in * out
#   conv   Cin -> Cout, k, output Ho x Wo:  Ho * Wo * Cout * Cin * k * k
#   tconv  Cin -> Cout, k, input Hi x Wi:   Hi * Wi * Cin * Cout * k * k
# FLOPs per step = sum(MACs) * 2 (multiply + add) * 3 (forward, and the two
# backward GEMMs: input gradient and weight gradient) * batch.
# Activations, biases, the loss and Adam are not counted.
BATCH=64
dense() { echo $(( $1 * $2 )); }
conv()  { echo $(( $1 * $2 * $3 * $4 * $4 )); }   # Cin Cout pixels k; pixels: output (conv) or input (tconv)
macs_of() {
    case "$1" in
    standard)   # docs/models.md, L = 10, 1x28x28
        echo $(( $(conv 1 8 196 5) + $(conv 8 16 49 5) + $(conv 16 32 49 5) \
               + $(dense 1568 20) \
               + $(dense 10 3136) + $(conv 64 32 49 5) + $(conv 32 1 196 5) )) ;;
    mlp)        # 784-100-100-(2x10) / 10-100-100-784
        echo $(( $(dense 784 100) + $(dense 100 100) + $(dense 100 20) \
               + $(dense 10 100) + $(dense 100 100) + $(dense 100 784) )) ;;
    esac
}
flops_of() { echo $(( $(macs_of "$1") * 2 * 3 * BATCH )); }

# ---- sgemm peak -----------------------------------------------------------
export PKG_CONFIG_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp/pkgconfig
# shellcheck disable=SC2046
gcc -std=c11 -O2 -Wall bench/sgemm_peak.c $(pkg-config --cflags --libs openblas) -o "$TMP/sgemm_peak"
SGEMM_OUT=$(env -u OPENBLAS_NUM_THREADS OMP_NUM_THREADS=2 "$TMP/sgemm_peak" 1024 10)
echo "$SGEMM_OUT"
SGEMM1=$(echo "$SGEMM_OUT" | sed -n 's/.*threads=1 gflops=\([0-9.]*\).*/\1/p')
SGEMM2=$(echo "$SGEMM_OUT" | sed -n 's/.*threads=2 gflops=\([0-9.]*\).*/\1/p')

# ---- vaerun ---------------------------------------------------------------
vaerun_rate() {   # model threads -> steps/s
    local model=$1 t=$2 out="$TMP/v_$1_$2"
    env -u OMP_NUM_THREADS -u OPENBLAS_NUM_THREADS "$VAERUN" --no-plot --quiet --out "$out" \
        --set train.steps="$(steps_of "$model")" --set train.log_every=$LOG_EVERY \
        --set train.eval_every=1000000 --set train.checkpoint_every=1000000 \
        --set eval.iwae_samples=0 --set 'seeds=[0]' --set train.threads="$t" \
        --set data.train=10000 --set data.test=100 "$(config_of "$model")" >"$out.log" 2>&1 \
        || { cat "$out.log" >&2; echo "cpu_bench.sh: vaerun failed" >&2; exit 1; }
    "$PY" - "$out" <<'PYEOF'
import glob, sys, h5py
path = glob.glob(sys.argv[1] + "/*/runs/*/run.h5")[0]
with h5py.File(path, "r") as f:
    s, w = f["/metrics/step"][:], f["/metrics/wall_s"][:]
print("%.3f %.3f" % ((s[-1] - s[0]) / (w[-1] - w[0]), w[-1]))
PYEOF
}

# ---- PyTorch ----------------------------------------------------------------
pytorch_rate() {  # model omp openblas threads -> "steps/s steps/s_after_first_log wall_s" or "nan nan nan"
    local model=$1 omp=$2 ob=$3 t=$4 n log
    n=$(steps_of "$model")
    log="$TMP/p_${model}_${omp}_${ob}_${t}.log"
    if ! OMP_NUM_THREADS=$omp OPENBLAS_NUM_THREADS=$ob timeout "$PT_TIMEOUT" \
        "$PY" bench/pytorch_vae.py --arch "$model" --steps "$n" --seed 0 --threads "$t" \
        --train 10000 --test 100 --eval-every $((n + 1)) --log-every $LOG_EVERY >"$log" 2>&1; then
        echo "cpu_bench.sh: PyTorch $model OMP=$omp OPENBLAS=$ob timed out or failed" >&2
        echo "nan nan nan"; return
    fi
    "$PY" - "$log" <<'PYEOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
res = json.loads(lines[-1])
# the same window as vaerun's: from the first log line to the last
steps = [(int(l.split()[1]), float(l.split()[-1])) for l in lines if l.startswith("step ")]
t = sum((b[0] - a[0]) / b[1] for a, b in zip(steps, steps[1:]))
win = (steps[-1][0] - steps[0][0]) / t if len(steps) > 1 else float("nan")
print("%.3f %.3f %.2f" % (res["train_steps_per_s"], win, res["wall_s"]))
PYEOF
}

declare -A R
for m in $MODELS; do
    for t in 1 2; do
        read -r rate wall < <(vaerun_rate "$m" "$t")
        R[$m,v$t]=$rate
        echo "vaerun  $m T=$t steps=$(steps_of "$m"): $rate steps/s (training wall ${wall}s)"
    done
    for cfg in "1 1 1" "2 1 2" "2 2 2"; do
        read -r omp ob t <<<"$cfg"
        read -r rate win wall < <(pytorch_rate "$m" "$omp" "$ob" "$t")
        R[$m,p$omp$ob]=$rate
        echo "PyTorch $m OMP=$omp OPENBLAS=$ob --threads $t steps=$(steps_of "$m"): $rate steps/s (JSON; $win from first to last log line; wall ${wall}s)"
    done
done

# ---- table --------------------------------------------------------------------
echo
echo "sgemm 1024x1024x1024 (OpenBLAS openmp): $SGEMM1 GFLOP/s at 1 thread, $SGEMM2 GFLOP/s at 2 threads"
echo
echo "| model | GFLOP/step | vaerun T=1 steps/s | vaerun T=1 GFLOP/s | PyTorch T=1 steps/s | vaerun / PyTorch T=1 | vaerun T=2 steps/s | vaerun T=2 GFLOP/s | PyTorch T=2 steps/s (best split) | vaerun / PyTorch T=2 |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for m in $MODELS; do
    "$PY" - "$m" "$(flops_of "$m")" "${R[$m,v1]}" "${R[$m,v2]}" "${R[$m,p11]}" "${R[$m,p21]}" "${R[$m,p22]}" "$SGEMM1" "$SGEMM2" <<'PYEOF'
import math, sys
m, flops = sys.argv[1], int(sys.argv[2])
v1, v2, p1, p21, p22, g1, g2 = map(float, sys.argv[3:10])
gf = flops / 1e9
cands = [(r, s) for r, s in ((p21, "OPENBLAS=1"), (p22, "OPENBLAS=2")) if not math.isnan(r)]
p2, split = max(cands) if cands else (float("nan"), "-")
print("| %s | %.3f | %.1f | %.2f (%.0f%% of sgemm) | %.1f | %.2f | %.1f | %.2f (%.0f%% of sgemm) | %.1f (%s; other %.1f) | %.2f |" % (
    m, gf, v1, v1 * gf, 100 * v1 * gf / g1, p1, v1 / p1,
    v2, v2 * gf, 100 * v2 * gf / g2, p2, split, p22 if split == "OPENBLAS=1" else p21, v2 / p2))
PYEOF
done
