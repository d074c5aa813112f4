#!/usr/bin/env bash
# cpu_bench.sh: vaerun's CPU backend next to PyTorch (bench/pytorch_vae.py)
# on the identical model, float32, the same thread counts, in one invocation:
# training steps/s (batch 64, Adam) and IWAE evaluation throughput (k = 1000),
# with the machine's sgemm rate and FMA peak for scale.
#
# Usage: bench/cpu_bench.sh [--models "standard mlp"] [--vaerun PATH]
#                           [--no-train] [--no-iwae]
#   --no-train  skip the training measurements (and their table)
#   --no-iwae   skip the IWAE measurements (and their table)
#   env STEPS_STANDARD=400 STEPS_MLP=4000 (training steps, vaerun and PyTorch)
#       REPEATS=3 (rounds of the training measurements; the table has medians)
#       C2C_SPLIT_NS=200 (a training round counts in the table when the
#       cache-line round trip between the two CPUs, bench/c2c_latency.c,
#       is at most this before and after it: the CPUs share a cache)
#       IWAE_K=1000 IWAE_IMAGES_STANDARD=32 IWAE_IMAGES_MLP=400 (IWAE part)
#       PT_TIMEOUT=300 (seconds; a PyTorch training run past it counts as
#       failed), IWAE_PT_TIMEOUT=60 (the same for a PyTorch IWAE run: its
#       oversubscribed split OPENBLAS=2 can be 10-30x slower than the other)
# Run from anywhere; it works in the repository root. Needs build/vaerun,
# data/mnist, /usr/bin/python3 with torch and h5py, gcc with OpenMP and
# OpenBLAS (openblas-openmp pkg-config). Run nothing else on the machine
# meanwhile. "All cores" is 2 (this machine; sgemm_peak times 1 and 2).
#
# Measures, one run at a time:
#   sgemm 1024^3         bench/sgemm_peak.c at 1 and 2 OpenBLAS threads
#   FMA peak             bench/fma_peak.c at 1 and 2 threads (OpenMP, one
#                        independent FMA stream per thread, AVX2 and AVX-512
#                        where the CPU has it; the better counts)
#   Training (steps/s):
#   vaerun T=1, T=2      steps/s from /metrics (first to last logged row, so
#                        the step-0 evaluation and the first 50 steps are out)
#   PyTorch T=1          OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 --threads 1
#   PyTorch T=2          OMP=2 OPENBLAS=1 and OMP=2 OPENBLAS=2, --threads 2;
#                        the better one goes in the table
#   IWAE, k = IWAE_K (test images x samples per second):
#   vaerun T=1, T=2      two runs of the model's config that differ only in
#                        eval.iwae_samples (IWAE_K, then 0): train.steps=1,
#                        train.log_every=1, eval.iwae_images=data.test=N.
#                        vaerun evaluates at step 0, at every eval_every
#                        (1000000 here: never) and at the last step, so each
#                        run evaluates twice, at step 0 and at step 1; the
#                        /metrics row of step 1 is written after the step-0
#                        evaluation and before the step-1 one, so its wall_s
#                        holds exactly one test_iwae computation (plus the
#                        ELBO evaluation and one training step, the same in
#                        both runs). time = wall_s(K) - wall_s(0) at step 1,
#                        rate = N x K / time. This in-process clock leaves out
#                        start-up, data loading and the HDF5 writing, which
#                        the process wall time would add as noise; the
#                        process-time estimate ((wall(K) - wall(0)) / 2
#                        evaluations) is printed next to it as a cross-check.
#                        The script checks /eval/step = [0, 1] and that
#                        test_iwae is finite in the first run, NaN in the other.
#   PyTorch T=1, T=2     pytorch_vae.py --iwae-bench K --iwae-images N: the
#                        same bound, the same N images, decoder chunks of 64
#                        rows like vaerun's, after a warm-up; thread settings
#                        as for training (both splits at T=2, the better one)
# and prints two Markdown tables: training (FLOPs per step, see
# bench/README.md, vaerun's GFLOP/s against sgemm and the FMA peak, the vaerun
# / PyTorch ratio) and IWAE throughput (vaerun, PyTorch, ratio).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

MODELS="standard mlp"
VAERUN=build/vaerun
PY=/usr/bin/python3
DO_TRAIN=1
DO_IWAE=1
while [ $# -gt 0 ]; do
    case "$1" in
        --models) MODELS=$2; shift 2 ;;
        --vaerun) VAERUN=$2; shift 2 ;;
        --no-train) DO_TRAIN=0; shift ;;
        --no-iwae) DO_IWAE=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "cpu_bench.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
STEPS_STANDARD=${STEPS_STANDARD:-400}
STEPS_MLP=${STEPS_MLP:-4000}
REPEATS=${REPEATS:-3}
C2C_SPLIT_NS=${C2C_SPLIT_NS:-200}
LOG_EVERY=50
PT_TIMEOUT=${PT_TIMEOUT:-300}   # the oversubscribed split can be very slow
IWAE_K=${IWAE_K:-1000}
IWAE_PT_TIMEOUT=${IWAE_PT_TIMEOUT:-60}
IWAE_IMAGES_STANDARD=${IWAE_IMAGES_STANDARD:-32}   # ~5.4 MFLOP per sample: a few s
IWAE_IMAGES_MLP=${IWAE_IMAGES_MLP:-400}            # ~0.18 MFLOP per sample

[ -x "$VAERUN" ] || { echo "cpu_bench.sh: $VAERUN not built" >&2; exit 1; }
TMP=$(mktemp -d /tmp/cpu_bench.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

config_of() { case "$1" in standard) echo configs/mnist_elbo.yaml ;; mlp) echo configs/mnist_mlp.yaml ;; esac; }
steps_of()  { case "$1" in standard) echo "$STEPS_STANDARD" ;; mlp) echo "$STEPS_MLP" ;; esac; }
iwae_images_of() { case "$1" in standard) echo "$IWAE_IMAGES_STANDARD" ;; mlp) echo "$IWAE_IMAGES_MLP" ;; esac; }

# ---- FLOPs per training step -------------------------------------------
# Per layer, forward MACs per image:
#   dense  in -> out:                       in * out
#   conv   Cin -> Cout, k, output Ho x Wo:  Ho * Wo * Cout * Cin * k * k
#   tconv  Cin -> Cout, k, input Hi x Wi:   Hi * Wi * Cin * Cout * k * k
# FLOPs per step = sum(MACs) * 2 (multiply + add) * 3 (forward, and the two
# backward GEMMs: input gradient and weight gradient) * batch.
# The first layer's input gradient (the gradient w.r.t. the image) is counted
# although vaerun skips it (and PyTorch does not compute it either, the input
# needing no grad): the same count, and so the same GFLOP/step, for both.
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
# IWAE: per (image, sample) pair one decoder forward pass (the encoder runs
# once per image, 1/K of that); only for the GFLOP/s printed with the rates.
dec_macs_of() {
    case "$1" in
    standard) echo $(( $(dense 10 3136) + $(conv 64 32 49 5) + $(conv 32 1 196 5) )) ;;
    mlp)      echo $(( $(dense 10 100) + $(dense 100 100) + $(dense 100 784) )) ;;
    esac
}

# ---- sgemm peak -----------------------------------------------------------
export PKG_CONFIG_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp/pkgconfig
# shellcheck disable=SC2046
gcc -std=c11 -O2 -Wall bench/sgemm_peak.c $(pkg-config --cflags --libs openblas) -o "$TMP/sgemm_peak"
SGEMM_OUT=$(env -u OPENBLAS_NUM_THREADS OMP_NUM_THREADS=2 "$TMP/sgemm_peak" 1024 10)
echo "$SGEMM_OUT"
SGEMM1=$(echo "$SGEMM_OUT" | sed -n 's/.*threads=1 gflops=\([0-9.]*\).*/\1/p')
SGEMM2=$(echo "$SGEMM_OUT" | sed -n 's/.*threads=2 gflops=\([0-9.]*\).*/\1/p')

# ---- FMA peak -------------------------------------------------------------------
gcc -std=c11 -O2 -Wall -fopenmp bench/fma_peak.c -o "$TMP/fma_peak"
FMA_OUT=$(env -u OMP_NUM_THREADS "$TMP/fma_peak" 2 7)
echo "$FMA_OUT"
FMA1=$(echo "$FMA_OUT" | sed -n 's/^fma best threads=1 gflops=\([0-9.]*\).*/\1/p')
FMA2=$(echo "$FMA_OUT" | sed -n 's/^fma best threads=2 gflops=\([0-9.]*\).*/\1/p')
FMA1_ISA=$(echo "$FMA_OUT" | sed -n 's/^fma best threads=1 .* isa=\(.*\)/\1/p')
FMA2_ISA=$(echo "$FMA_OUT" | sed -n 's/^fma best threads=2 .* isa=\(.*\)/\1/p')
CPU_LINE=$(echo "$FMA_OUT" | sed -n 's/^cpu //p')

# ---- where the two CPUs sit ---------------------------------------------------
# The cache-line round trip between the first two CPUs, before and after
# every training measurement (bench/c2c_latency.c says why): a measurement
# counts as taken with the CPUs sharing a cache when both are at most
# C2C_SPLIT_NS.
gcc -std=c11 -O2 -Wall -pthread bench/c2c_latency.c -o "$TMP/c2c"
c2c_ns() { "$TMP/c2c" 2>/dev/null | sed -n 's/.*round_trip_ns=//p' | grep . || echo nan; }
shared() { awk -v a="$1" -v b="$2" -v l="$C2C_SPLIT_NS" 'BEGIN { exit !(a != "nan" && b != "nan" && a + 0 <= l && b + 0 <= l) }'; }

# ---- vaerun ---------------------------------------------------------------
vaerun_rate() {   # model threads round -> steps/s (a fresh results folder per round)
    local model=$1 t=$2 out="$TMP/v_$1_$2_$3"
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

# ---- IWAE throughput ----------------------------------------------------------
vaerun_iwae() {   # model threads images -> "img*samples/s seconds proc_seconds"
    local model=$1 t=$2 n=$3 k out
    local -A W
    for k in "$IWAE_K" 0; do
        out="$TMP/vi_${model}_${t}_$k"
        local t0 t1
        t0=$(date +%s.%N)
        env -u OMP_NUM_THREADS -u OPENBLAS_NUM_THREADS "$VAERUN" --no-plot --quiet --out "$out" \
            --set train.steps=1 --set train.log_every=1 \
            --set train.eval_every=1000000 --set train.checkpoint_every=1000000 \
            --set eval.iwae_samples="$k" --set eval.iwae_images="$n" --set 'seeds=[0]' \
            --set train.threads="$t" --set data.train=1000 --set data.test="$n" \
            "$(config_of "$model")" >"$out.log" 2>&1 \
            || { cat "$out.log" >&2; echo "cpu_bench.sh: vaerun (IWAE) $model T=$t failed" >&2
                 echo "nan nan nan"; return; }
        t1=$(date +%s.%N)
        W[$k]=$(echo "$t0 $t1" | awk '{printf "%.4f", $2 - $1}')
    done
    if "$PY" - "$TMP/vi_${model}_${t}_$IWAE_K" "$TMP/vi_${model}_${t}_0" "$n" "$IWAE_K" \
        "${W[$IWAE_K]}" "${W[0]}" <<'PYEOF'
import glob, math, sys
import h5py
dirs, n, k = sys.argv[1:3], int(sys.argv[3]), int(sys.argv[4])
pw, pw0 = float(sys.argv[5]), float(sys.argv[6])
walls = []
for d, want_iwae in zip(dirs, (True, False)):
    path = glob.glob(d + "/*/runs/*/run.h5")[0]
    with h5py.File(path, "r") as f:
        step, wall = list(f["/metrics/step"][:]), list(f["/metrics/wall_s"][:])
        estep, iwae = list(f["/eval/step"][:]), list(f["/eval/test_iwae"][:])
    # one evaluation before the step-1 row (step 0), one after it (step 1)
    if step != [1] or estep != [0, 1] \
            or any(math.isfinite(v) != want_iwae for v in iwae):
        sys.exit("cpu_bench.sh: unexpected run.h5 in %s: /metrics/step %s, "
                 "/eval/step %s, test_iwae %s" % (d, step, estep, iwae))
    walls.append(wall[0])
dt = walls[0] - walls[1]
print("%.1f %.4f %.4f" % (n * k / dt if dt > 0 else float("nan"), dt, (pw - pw0) / 2))
PYEOF
    then :; else echo "nan nan nan"; fi
}

pytorch_iwae() {  # model omp openblas threads images -> "img*samples/s seconds" or "nan nan"
    local model=$1 omp=$2 ob=$3 t=$4 n=$5 log
    log="$TMP/pi_${model}_${omp}_${ob}_${t}.log"
    if ! OMP_NUM_THREADS=$omp OPENBLAS_NUM_THREADS=$ob timeout "$IWAE_PT_TIMEOUT" \
        "$PY" bench/pytorch_vae.py --arch "$model" --seed 0 --threads "$t" \
        --iwae-bench "$IWAE_K" --iwae-images "$n" >"$log" 2>&1; then
        echo "cpu_bench.sh: PyTorch IWAE $model OMP=$omp OPENBLAS=$ob timed out (${IWAE_PT_TIMEOUT}s) or failed" >&2
        echo "nan nan"; return
    fi
    "$PY" -c 'import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
print("%.1f %.4f" % (r["img_samples_per_s"], r["seconds"]))' "$log"
}

# Training: REPEATS rounds, each running every measurement once, so that a
# burst of load on the machine hits both programs alike. Each cell of the
# table is the median of the rounds taken with the CPUs sharing a cache (see
# c2c_ns above; all rounds, marked "(all)", if there is none); the log also
# gives the median of the other rounds. The oversubscribed PyTorch split
# (OPENBLAS=2 at 2 threads) runs in the first round only: it is never the
# better split, and one run of it takes 35-50 s.
median() { printf '%s\n' "$@" | grep -v -e nan -e '^$' | sort -g | awk '{ a[NR] = $1 }
    END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2];
          else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
declare -A R S SH SP NOTE
record() {   # key rate c2c_before c2c_after
    S[$1]+=" $2"
    if shared "$3" "$4"; then SH[$1]+=" $2"; else SP[$1]+=" $2"; fi
}
if [ "$DO_TRAIN" = 1 ]; then
for rep in $(seq 1 "$REPEATS"); do
    for m in $MODELS; do
        for t in 1 2; do
            c0=$(c2c_ns)
            read -r rate wall < <(vaerun_rate "$m" "$t" "$rep")
            c1=$(c2c_ns)
            record "$m,v$t" "$rate" "$c0" "$c1"
            echo "vaerun  $m T=$t steps=$(steps_of "$m"): $rate steps/s (training wall ${wall}s; c2c $c0 / $c1 ns; round $rep/$REPEATS)"
        done
        for cfg in "1 1 1" "2 1 2" "2 2 2"; do
            read -r omp ob t <<<"$cfg"
            if [ "$cfg" = "2 2 2" ] && [ "$rep" -gt 1 ]; then continue; fi
            c0=$(c2c_ns)
            read -r rate win wall < <(pytorch_rate "$m" "$omp" "$ob" "$t")
            c1=$(c2c_ns)
            record "$m,p$omp$ob" "$rate" "$c0" "$c1"
            echo "PyTorch $m OMP=$omp OPENBLAS=$ob --threads $t steps=$(steps_of "$m"): $rate steps/s (JSON; $win from first to last log line; wall ${wall}s; c2c $c0 / $c1 ns; round $rep/$REPEATS)"
        done
    done
done
for key in "${!S[@]}"; do
    # shellcheck disable=SC2086
    if [ -n "${SH[$key]:-}" ]; then R[$key]=$(median ${SH[$key]}); NOTE[$key]=""
    else R[$key]=$(median ${S[$key]}); NOTE[$key]=" (all)"; fi
done
echo
echo "Medians of the rounds with the CPUs sharing a cache (c2c <= $C2C_SPLIT_NS ns before and after), steps/s:"
for m in $MODELS; do
    for key in v1 v2 p11 p21 p22; do
        # shellcheck disable=SC2086
        echo "  $m $key: ${R[$m,$key]}${NOTE[$m,$key]} (shared:${SH[$m,$key]:- none}; not shared:${SP[$m,$key]:- none}, median $(median ${SP[$m,$key]:-}))"
    done
done
# Load from outside hits a round's two programs alike more than it hits
# different rounds, so the ratio within each round is steadier than the
# ratio of the medians: every round counts here, shared cache or not.
echo
echo "vaerun / PyTorch round by round (each vaerun rate over the PyTorch rate of its round, OPENBLAS=1; all rounds):"
for m in $MODELS; do
    for t in 1 2; do
        p=p${t}1
        # shellcheck disable=SC2086
        "$PY" - "$m" "$t" "${S[$m,v$t]}" "${S[$m,$p]}" <<'PYEOF'
import math, statistics, sys
m, t = sys.argv[1], sys.argv[2]
v, p = [float(a) for a in sys.argv[3].split()], [float(a) for a in sys.argv[4].split()]
r = [a / b for a, b in zip(v, p) if not (math.isnan(a) or math.isnan(b) or b == 0)]
if r:
    print("  %s T=%s: median %.2f, range %.2f-%.2f over %d rounds (%s)" % (
        m, t, statistics.median(r), min(r), max(r), len(r), " ".join("%.2f" % x for x in r)))
else:
    print("  %s T=%s: no round with both rates" % (m, t))
PYEOF
    done
done
fi

declare -A I
gflops_iwae() { awk -v r="$1" -v m="$2" 'BEGIN { printf "%.2f", r * 2 * m / 1e9 }'; }
if [ "$DO_IWAE" = 1 ]; then
for m in $MODELS; do
    n=$(iwae_images_of "$m")
    for t in 1 2; do
        read -r rate sec psec < <(vaerun_iwae "$m" "$t" "$n")
        I[$m,v$t]=$rate
        echo "vaerun  IWAE $m T=$t k=$IWAE_K images=$n: $rate img*samples/s (test_iwae ${sec}s from /metrics; process wall says ${psec}s per evaluation; decoder $(gflops_iwae "$rate" "$(dec_macs_of "$m")") GFLOP/s)"
    done
    for cfg in "1 1 1" "2 1 2" "2 2 2"; do
        read -r omp ob t <<<"$cfg"
        read -r rate sec < <(pytorch_iwae "$m" "$omp" "$ob" "$t" "$n")
        I[$m,p$omp$ob]=$rate
        echo "PyTorch IWAE $m OMP=$omp OPENBLAS=$ob --threads $t k=$IWAE_K images=$n: $rate img*samples/s (${sec}s; decoder $(gflops_iwae "$rate" "$(dec_macs_of "$m")") GFLOP/s)"
    done
done
fi

# ---- tables -------------------------------------------------------------------
echo
echo "CPU: $CPU_LINE"
echo "sgemm 1024x1024x1024 (OpenBLAS openmp): $SGEMM1 GFLOP/s at 1 thread, $SGEMM2 GFLOP/s at 2 threads"
echo "FMA peak (float32, 2 FLOPs per FMA lane): $FMA1 GFLOP/s at 1 thread ($FMA1_ISA), $FMA2 GFLOP/s at 2 threads ($FMA2_ISA)"
if [ "$DO_TRAIN" = 1 ]; then
echo
echo "Training, batch 64 (each cell the median of the rounds, of $REPEATS, taken with the CPUs sharing a cache):"
echo
echo "| model | GFLOP/step | vaerun T=1 steps/s | vaerun T=1 GFLOP/s | PyTorch T=1 steps/s | vaerun / PyTorch T=1 | vaerun T=2 steps/s | vaerun T=2 GFLOP/s | PyTorch T=2 steps/s (best split) | vaerun / PyTorch T=2 |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for m in $MODELS; do
    "$PY" - "$m" "$(flops_of "$m")" "${R[$m,v1]}" "${R[$m,v2]}" "${R[$m,p11]}" "${R[$m,p21]}" "${R[$m,p22]}" "$SGEMM1" "$SGEMM2" "$FMA1" "$FMA2" <<'PYEOF'
import math, sys
m, flops = sys.argv[1], int(sys.argv[2])
v1, v2, p1, p21, p22, g1, g2, f1, f2 = map(float, sys.argv[3:12])
gf = flops / 1e9
cands = [(r, s) for r, s in ((p21, "OPENBLAS=1"), (p22, "OPENBLAS=2")) if not math.isnan(r)]
p2, split = max(cands) if cands else (float("nan"), "-")
print("| %s | %.3f | %.1f | %.2f (%.0f%% of sgemm, %.0f%% of FMA peak) | %.1f | %.2f | %.1f | %.2f (%.0f%% of sgemm, %.0f%% of FMA peak) | %.1f (%s; other %.1f) | %.2f |" % (
    m, gf, v1, v1 * gf, 100 * v1 * gf / g1, 100 * v1 * gf / f1, p1, v1 / p1,
    v2, v2 * gf, 100 * v2 * gf / g2, 100 * v2 * gf / f2, p2, split,
    p22 if split == "OPENBLAS=1" else p21, v2 / p2))
PYEOF
done
for key in "${!NOTE[@]}"; do
    [ -n "${NOTE[$key]}" ] && echo "(${key/,/ }: no round with the CPUs sharing a cache; the cell is the median of all rounds)"
done
fi
if [ "$DO_IWAE" = 1 ]; then
echo
echo "IWAE evaluation, k = $IWAE_K samples per image (test images x samples per second):"
echo
echo "| model | threads | vaerun img*samples/s | PyTorch img*samples/s | vaerun / PyTorch |"
echo "| --- | --- | --- | --- | --- |"
for m in $MODELS; do
    "$PY" - "$m" "$(iwae_images_of "$m")" "${I[$m,v1]}" "${I[$m,v2]}" "${I[$m,p11]}" "${I[$m,p21]}" "${I[$m,p22]}" "$IWAE_PT_TIMEOUT" <<'PYEOF'
import math, sys
m, n = sys.argv[1], int(sys.argv[2])
v1, v2, p1, p21, p22 = map(float, sys.argv[3:8])
cands = [(r, s) for r, s in ((p21, "OPENBLAS=1"), (p22, "OPENBLAS=2")) if not math.isnan(r)]
p2, split = max(cands) if cands else (float("nan"), "-")
other = p22 if split == "OPENBLAS=1" else p21
other = "timed out (%s s) or failed" % sys.argv[8] if math.isnan(other) else "%.0f" % other
print("| %s (%d images) | 1 | %.0f | %.0f | %.2f |" % (m, n, v1, p1, v1 / p1))
print("| %s (%d images) | 2 | %.0f | %.0f (%s; other %s) | %.2f |" % (m, n, v2, p2, split, other, v2 / p2))
PYEOF
done
fi
