#!/usr/bin/env bash
# gpu_bench.sh: vaerun's CUDA backend next to PyTorch on one GPU (issue 7).
#
#   (a) one run of the standard conv VAE (configs/mnist_elbo.yaml: batch 64,
#       float32, Adam): vaerun's steps/s (with its CUDA graph, and op by op)
#       against PyTorch eager, PyTorch with the step captured as a CUDA graph
#       and torch.compile (bench/pytorch_gpu.py: the same model and data
#       handling as bench/pytorch_vae.py);
#   (b) a sweep of 32 runs (8 betas x 4 seeds) on one GPU: vaerun's total
#       wall time (--streams 4 and 8 runs at once) against PyTorch running
#       the 32 runs one after another (eager, and with CUDA graphs), and the
#       best concurrent PyTorch setup tried (P processes side by side, each
#       running its share of the runs one after another).
# Prints what it runs, a log line per result, and a Markdown table at the end
# (also written to OUTDIR/table.md, logs beside it). Targets (issue 7): a
# single run >= 3x PyTorch eager steps/s; the sweep >= 10x faster than
# PyTorch sequential.
#
# Usage (from anywhere; it works in the repository root):
#   bench/gpu_bench.sh [--part single|sweep|all] [--vaerun PATH] [--python PY]
#                      [--device N] [--data DIR] [--out DIR] [--quick] [--cpu-dry-run]
#   --vaerun   default: the first of build-gpu/bundle/bin/vaerun (scripts/
#              gpu_bundle.sh), build-gpu/vaerun, build/vaerun; its bundled
#              libraries must be on LD_LIBRARY_PATH, as scripts/gpu_run.sh sets
#   --data     the MNIST IDX files, raw or .gz (default data/mnist, else
#              data/mnist-gz: 12 MB to carry to a GPU machine); both
#              vaerun (VAERUN_DATA) and PyTorch read them
#   --python   a python3 with PyTorch 2.x and CUDA (default: python3)
#   --device   the GPU (CUDA device number, default 0)
#   --out      where logs and table.md go (default $OUT/gpu_bench when $OUT is
#              set, else a temporary folder, removed at the end)
#   --quick    few steps: checks that everything runs (about a minute)
#   --cpu-dry-run  no GPU: vaerun --backend cpu and PyTorch eager on the CPU,
#              tiny sizes; checks the script itself, the numbers mean nothing
# Environment: SINGLE_STEPS (3000), SWEEP_STEPS (1000), SWEEP_BETAS
# (0.25,0.5,0.75,1,1.5,2,3,4), SWEEP_SEEDS (0,1,2,3), VR_STREAMS ("4 8"),
# PT_PROCS ("4 8"), TIMEOUT (seconds per command, 300), SKIP_COMPILE=1.
# On a device tool limited to 10 minutes a call: --part single, then --part sweep.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PART=all
VAERUN=""
PY=python3
DEV=0
DATA=""
OUTDIR=""
QUICK=0
DRY=0
while [ $# -gt 0 ]; do
    case "$1" in
        --part) PART=$2; shift 2 ;;
        --vaerun) VAERUN=$2; shift 2 ;;
        --python) PY=$2; shift 2 ;;
        --device) DEV=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --out) OUTDIR=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --cpu-dry-run) DRY=1; shift ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | grep '^#'; exit 0 ;;
        *) echo "gpu_bench.sh: unknown option $1 (--help)" >&2; exit 2 ;;
    esac
done
case "$PART" in single|sweep|all) ;; *) echo "gpu_bench.sh: --part single|sweep|all" >&2; exit 2 ;; esac

SINGLE_STEPS=${SINGLE_STEPS:-3000}
SWEEP_STEPS=${SWEEP_STEPS:-1000}
SWEEP_BETAS=${SWEEP_BETAS:-0.25,0.5,0.75,1,1.5,2,3,4}
SWEEP_SEEDS=${SWEEP_SEEDS:-0,1,2,3}
VR_STREAMS=${VR_STREAMS:-4 8}
PT_PROCS=${PT_PROCS:-4 8}
TIMEOUT=${TIMEOUT:-300}
DATA_ARGS=()      # vaerun --set and PyTorch flags for a data subset (dry run)
PT_DATA=()
if [ "$QUICK" = 1 ]; then
    SINGLE_STEPS=${QUICK_SINGLE_STEPS:-500}; SWEEP_STEPS=${QUICK_SWEEP_STEPS:-200}
    VR_STREAMS=${VR_STREAMS%% *}; PT_PROCS=${PT_PROCS%% *}
fi
if [ "$DRY" = 1 ]; then
    SINGLE_STEPS=200; SWEEP_STEPS=40; SWEEP_BETAS=0.5,2; SWEEP_SEEDS=0,1
    VR_STREAMS=2; PT_PROCS=2; SKIP_COMPILE=1
    DATA_ARGS=(--set data.train=2000 --set data.test=200)
    PT_DATA=(--train 2000 --test 200)
    if ! "$PY" -c 'import torch' 2>/dev/null; then PY=/usr/bin/python3; fi
fi
LOG_EVERY=100
[ "$SINGLE_STEPS" -gt $((2 * LOG_EVERY)) ] || LOG_EVERY=$((SINGLE_STEPS / 4))

if [ -z "$VAERUN" ]; then
    for v in build-gpu/bundle/bin/vaerun build-gpu/vaerun build/vaerun; do
        [ -x "$v" ] && { VAERUN=$v; break; }
    done
    [ -n "$VAERUN" ] || VAERUN=build-gpu/bundle/bin/vaerun
fi
KEEP=1
if [ -z "$OUTDIR" ]; then
    if [ -n "${OUT:-}" ]; then OUTDIR="$OUT/gpu_bench"; else OUTDIR=$(mktemp -d /tmp/gpu_bench.XXXXXX); KEEP=0; fi
fi
mkdir -p "$OUTDIR" || { echo "gpu_bench.sh: cannot create $OUTDIR" >&2; exit 1; }
OUTDIR=$(cd "$OUTDIR" && pwd)
[ "$KEEP" = 1 ] || trap 'rm -rf "$OUTDIR"' EXIT

say() { echo "[gpu_bench] $*"; }
die() { echo "gpu_bench.sh: $*" >&2; exit 1; }

# ---- what is here -------------------------------------------------------------
[ -x "$VAERUN" ] || die "$VAERUN not found: build it (scripts/gpu_bundle.sh) or pass --vaerun"
# A bundled vaerun (scripts/gpu_bundle.sh) needs its Debian libraries and
# the machine's cuBLAS on LD_LIBRARY_PATH; scripts/gpu_run.sh sets them up
# in /tmp/vaerun-gpu/lib. Standing alone, do the same here.
bundle_libs() {
    local bundle lib=/tmp/vaerun-gpu/lib d cublas=""
    bundle=$(cd "$(dirname "$VAERUN")/.." && pwd)
    [ -f "$bundle/lib.tar.xz" ] || return 1
    if [ ! -d "$lib" ]; then
        mkdir -p "$lib"
        tar -xJf "$bundle/lib.tar.xz" -C "$lib" 2>/dev/null ||
            "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
                "$bundle/lib.tar.xz" "$lib" || return 1
    fi
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 \
             /usr/local/cuda-13*/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
        [ -e "$d/libcublas.so.13" ] && { cublas=$d; break; }
    done
    [ -n "$cublas" ] || cublas=$("$PY" -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null)
    export LD_LIBRARY_PATH=$lib${cublas:+:$cublas}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    if ! ldconfig -p 2>/dev/null | grep -q 'libstdc++.so.6 ' && [ -f "$bundle/fallback.tar.xz" ]; then
        mkdir -p /tmp/vaerun-gpu/fallback
        tar -xJf "$bundle/fallback.tar.xz" -C /tmp/vaerun-gpu/fallback 2>/dev/null
        export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:/tmp/vaerun-gpu/fallback
    fi
    say "libraries: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
}
"$VAERUN" --version >/dev/null 2>/dev/null || bundle_libs
"$VAERUN" --version >/dev/null 2>"$OUTDIR/vaerun_version.err" || {
    cat "$OUTDIR/vaerun_version.err" >&2
    ldd "$VAERUN" 2>&1 | grep "not found" >&2
    die "$VAERUN does not start (missing libraries above? scripts/gpu_run.sh sets LD_LIBRARY_PATH)"
}
if [ -z "$DATA" ]; then   # data/mnist, or a carried copy of its .gz files
    DATA=data/mnist
    for d in data/mnist data/mnist-gz; do
        [ -f "$d/train-images-idx3-ubyte" ] || [ -f "$d/train-images-idx3-ubyte.gz" ] && { DATA=$d; break; }
    done
fi
[ -f "$DATA/train-images-idx3-ubyte" ] || [ -f "$DATA/train-images-idx3-ubyte.gz" ] ||
    die "no MNIST in $DATA (scripts/fetch_data.sh, or --data DIR with the IDX files, raw or .gz)"
DATA=$(cd "$DATA" && pwd)
export VAERUN_DATA=$DATA
PT_DATA+=(--data "$DATA")
"$PY" -c 'import torch' 2>/dev/null || die "$PY has no PyTorch (--python)"
PT_DEVICE="cuda:$DEV"
BACKEND=(--backend cuda --devices "$DEV")
if [ "$DRY" = 1 ]; then
    PT_DEVICE=cpu
    BACKEND=(--backend cpu)
fi

GPU_NAME=$("$PY" - "$PT_DEVICE" <<'PY' 2>/dev/null
import sys, torch
d = sys.argv[1]
if d.startswith("cuda") and torch.cuda.is_available():
    p = torch.cuda.get_device_properties(torch.device(d))
    print("%s, %.1f GiB" % (p.name, p.total_memory / 2**30))
else:
    print("cpu (dry run)" if d == "cpu" else "no CUDA device visible to torch")
PY
)
TORCH_INFO=$("$PY" -c 'import torch; print("torch %s, CUDA %s" % (torch.__version__, torch.version.cuda))')
DRIVER=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader -i "$DEV" 2>/dev/null | head -1)
say "device: $GPU_NAME; driver ${DRIVER:-?}; $TORCH_INFO; vaerun $("$VAERUN" --version | awk '{print $2}') ($VAERUN)"
say "logs in $OUTDIR"
if [ "$DRY" = 0 ] && [[ $GPU_NAME == "no CUDA"* ]]; then die "PyTorch sees no GPU: $GPU_NAME"; fi

declare -A R   # results: key -> value ("" when it failed)
ROWS=()        # table rows, in order

# run_timed NAME CMD...: runs CMD with the time limit, output to NAME.log;
# prints the wall seconds; returns CMD's status.
run_timed() {
    local name=$1; shift
    local t0 t1 rc
    t0=$(date +%s.%N)
    timeout "$TIMEOUT" "$@" >"$OUTDIR/$name.log" 2>&1; rc=$?
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
    return $rc
}

fail_note() {  # NAME RC: one line on why a command failed
    local name=$1 rc=$2
    if [ "$rc" = 124 ]; then echo "timed out after ${TIMEOUT}s"; return; fi
    echo "exit $rc: $(grep -v '^\s*$' "$OUTDIR/$name.log" | tail -1 | cut -c1-150)"
}

# ---- (a) one run ------------------------------------------------------------------
vaerun_single() {  # KEY ENV... : vaerun on configs/mnist_elbo.yaml, one run
    local key=$1; shift
    local out="$OUTDIR/$key" wall rc
    wall=$(run_timed "$key" env "$@" "$VAERUN" --no-plot "${BACKEND[@]}" --streams 1 --out "$out" \
        --set train.steps="$SINGLE_STEPS" --set train.log_every="$LOG_EVERY" \
        --set train.eval_every="$SINGLE_STEPS" --set train.checkpoint_every=1000000000 \
        --set eval.iwae_samples=0 --set 'seeds=[0]' --set name=single "${DATA_ARGS[@]}" \
        configs/mnist_elbo.yaml); rc=$?
    if [ $rc -ne 0 ]; then
        R[$key]=""; R[$key,note]=$(fail_note "$key" $rc); say "$key: FAILED ($(fail_note "$key" $rc))"; return
    fi
    # The last progress line's rate counts from the first log row: warm-up,
    # graph capture and the step-0 evaluation are out, as in PyTorch's.
    R[$key]=$(grep -o '[0-9.]* steps/s' "$OUTDIR/$key.log" | tail -1 | awk '{print $1}')
    R[$key,elbo]=$("$PY" -c 'import csv,sys; r=list(csv.DictReader(open(sys.argv[1]))); print(r[0]["test_elbo"])' \
        "$out/single/summary.csv" 2>/dev/null)
    R[$key,wall]=$wall
    say "$key: ${R[$key]} steps/s, test ELBO ${R[$key,elbo]}, wall ${wall}s"
}

pytorch_single() {  # KEY MODE [EXTRA...]
    local key=$1 mode=$2; shift 2
    local wall rc
    wall=$(run_timed "$key" "$PY" bench/pytorch_gpu.py --mode "$mode" --device "$PT_DEVICE" \
        --steps "$SINGLE_STEPS" --log-every "$LOG_EVERY" "${PT_DATA[@]}" "$@"); rc=$?
    if [ $rc -ne 0 ]; then
        R[$key]=""; R[$key,note]=$(fail_note "$key" $rc); say "$key: FAILED (${R[$key,note]})"; return
    fi
    read -r rate elbo < <("$PY" - "$OUTDIR/$key.log" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
run = [r for r in rows if "run" in r][-1]
print(run.get("steady_steps_per_s"), run.get("test_elbo"))
PY
)
    R[$key]=$rate; R[$key,elbo]=$elbo; R[$key,wall]=$wall
    say "$key: $rate steps/s (from the first log line), test ELBO $elbo, wall ${wall}s"
}

ratio() {  # A B -> A/B with 2 decimals, or "-"
    awk -v a="${1:-}" -v b="${2:-}" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2fx\n", a / b }'
}

if [ "$PART" != sweep ]; then
    say "(a) one run: standard conv VAE, batch 64, $SINGLE_STEPS steps"
    vaerun_single v_graph
    [ "$DRY" = 1 ] || vaerun_single v_nograph VAERUN_CUDA_GRAPHS=0
    pytorch_single p_eager eager
    if [ "$DRY" = 0 ]; then
        pytorch_single p_graph graph
        [ "${SKIP_COMPILE:-0}" = 1 ] || pytorch_single p_compile compile
    fi
    E=${R[p_eager]:-}
    cell() {  # KEY LABEL
        local k=$1 label=$2
        if [ -n "${R[$k]:-}" ]; then
            ROWS+=("| one run, $SINGLE_STEPS steps | $label | ${R[$k]} steps/s (test ELBO ${R[$k,elbo]:-?}) | $(ratio "${R[$k]}" "$E") |")
        elif [ -n "${R[$k,note]:-}" ]; then
            ROWS+=("| one run, $SINGLE_STEPS steps | $label | failed: ${R[$k,note]} | - |")
        fi
    }
    cell v_graph "vaerun (CUDA graph)"
    cell v_nograph "vaerun, op by op (VAERUN_CUDA_GRAPHS=0)"
    cell p_eager "PyTorch eager"
    cell p_graph "PyTorch, step as a CUDA graph"
    cell p_compile "PyTorch, torch.compile (reduce-overhead) + fused Adam"
fi

# ---- (b) the sweep ------------------------------------------------------------------
if [ "$PART" != single ]; then
    NB=$(tr ',' '\n' <<<"$SWEEP_BETAS" | grep -c .)
    NS=$(tr ',' '\n' <<<"$SWEEP_SEEDS" | grep -c .)
    NRUNS=$((NB * NS))
    say "(b) a sweep of $NRUNS runs ($NB betas x $NS seeds), $SWEEP_STEPS steps each, on one GPU"
    cat > "$OUTDIR/gpu_sweep.yaml" <<Y
# bench/gpu_bench.sh: $NRUNS runs of the standard conv VAE as a beta-VAE
name: gpu_sweep
base: $ROOT/configs/mnist_elbo.yaml
objective: {kind: beta}
train: {steps: $SWEEP_STEPS, log_every: 100, eval_every: $SWEEP_STEPS, checkpoint_every: 1000000000}
eval: {iwae_samples: 0}
grid:
  objective.beta: [$SWEEP_BETAS]
seeds: [$SWEEP_SEEDS]
Y
    SWEEP_LABEL="$NRUNS runs x $SWEEP_STEPS steps"
    for n in $VR_STREAMS; do
        key=vs_$n
        rm -rf "$OUTDIR/$key"
        wall=$(run_timed "$key" "$VAERUN" --no-plot --quiet "${BACKEND[@]}" --streams "$n" \
            --out "$OUTDIR/$key" "${DATA_ARGS[@]}" "$OUTDIR/gpu_sweep.yaml"); rc=$?
        done_runs=$(grep -c ',done,' "$OUTDIR/$key/gpu_sweep/summary.csv" 2>/dev/null)
        if [ $rc -ne 0 ] || [ "${done_runs:-0}" -ne "$NRUNS" ]; then
            R[$key]=""; R[$key,note]="$(fail_note "$key" $rc); ${done_runs:-0} of $NRUNS runs done"
            say "vaerun --streams $n: FAILED (${R[$key,note]})"
        else
            R[$key]=$wall; say "vaerun --streams $n: $NRUNS runs in ${wall}s"
        fi
    done
    pt_sweep() {  # KEY MODE PROCS
        local key=$1 mode=$2 procs=$3 i rc=0 t0 t1 pids=()
        t0=$(date +%s.%N)
        for ((i = 0; i < procs; i++)); do
            timeout "$TIMEOUT" "$PY" bench/pytorch_gpu.py --mode "$mode" --device "$PT_DEVICE" \
                --steps "$SWEEP_STEPS" --betas "$SWEEP_BETAS" --seeds "$SWEEP_SEEDS" \
                --shard "$i/$procs" --quiet "${PT_DATA[@]}" >"$OUTDIR/${key}_$i.log" 2>&1 &
            pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p" || rc=$?; done
        t1=$(date +%s.%N)
        local runs
        runs=$(cat "$OUTDIR/${key}"_*.log | grep -c '^{"run"')
        if [ $rc -ne 0 ] || [ "$runs" -ne "$NRUNS" ]; then
            cp "$OUTDIR/${key}_0.log" "$OUTDIR/$key.log"
            R[$key]=""; R[$key,note]="$(fail_note "$key" $rc); $runs of $NRUNS runs done"
            say "PyTorch $mode, $procs process(es): FAILED (${R[$key,note]})"
            return
        fi
        R[$key]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }')
        say "PyTorch $mode, $procs process(es): $NRUNS runs in ${R[$key]}s"
    }
    pt_sweep ps_eager_1 eager 1
    [ "$DRY" = 1 ] || pt_sweep ps_graph_1 graph 1
    # Concurrent: the faster single-process mode, in P processes.
    CMODE=eager
    if [ -n "${R[ps_graph_1]:-}" ] && awk -v g="${R[ps_graph_1]}" -v e="${R[ps_eager_1]:-1e9}" 'BEGIN { exit !(g < e) }'; then
        CMODE=graph
    fi
    for P in $PT_PROCS; do pt_sweep "ps_${CMODE}_$P" "$CMODE" "$P"; done
    SEQ=${R[ps_eager_1]:-}
    best_key=""
    for P in $PT_PROCS; do
        k="ps_${CMODE}_$P"
        if [ -n "${R[$k]:-}" ] && { [ -z "$best_key" ] || awk -v a="${R[$k]}" -v b="${R[$best_key]}" 'BEGIN { exit !(a < b) }'; }; then best_key=$k; fi
    done
    srow() {  # KEY LABEL
        local k=$1 label=$2
        if [ -n "${R[$k]:-}" ]; then
            ROWS+=("| $SWEEP_LABEL | $label | ${R[$k]} s | $(ratio "$SEQ" "${R[$k]}") |")
        elif [ -n "${R[$k,note]:-}" ]; then
            ROWS+=("| $SWEEP_LABEL | $label | failed: ${R[$k,note]} | - |")
        fi
    }
    for n in $VR_STREAMS; do srow "vs_$n" "vaerun --streams $n (one process, $n runs at once)"; done
    srow ps_eager_1 "PyTorch eager, one after another"
    srow ps_graph_1 "PyTorch CUDA graph, one after another"
    for P in $PT_PROCS; do
        k="ps_${CMODE}_$P"
        label="PyTorch $CMODE, $P processes side by side"
        [ "$k" = "$best_key" ] && label="$label (best concurrent)"
        srow "$k" "$label"
    done
fi

# ---- the table ----------------------------------------------------------------------
{
    echo "GPU benchmark $(date -u +%Y-%m-%d): $GPU_NAME, driver ${DRIVER:-?}, $TORCH_INFO"
    [ "$DRY" = 1 ] && echo "(CPU DRY RUN: the numbers say nothing about the GPU)"
    echo
    echo "| benchmark | setup | result | vs PyTorch eager (one run: steps/s ratio; sweep: sequential wall / wall) |"
    echo "| --- | --- | --- | --- |"
    for r in "${ROWS[@]}"; do echo "$r"; done
    echo
    echo "Targets (issue 7): one run >= 3x PyTorch eager steps/s; the sweep >= 10x faster than PyTorch eager one after another."
    echo "Command: bench/gpu_bench.sh --part $PART --device $DEV (SINGLE_STEPS=$SINGLE_STEPS SWEEP_STEPS=$SWEEP_STEPS); logs: $([ "$KEEP" = 1 ] && echo "$OUTDIR" || echo "removed (--out DIR keeps them)")"
} | tee "$OUTDIR/table.md"
