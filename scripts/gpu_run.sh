#!/usr/bin/env bash
# gpu_run.sh: on a GPU machine, from the repository root, run what
# scripts/gpu_bundle.sh bundled into build-gpu/bundle/ (built on Debian): the
# GPU parity tests and, when asked, the same under compute-sanitizer and a
# short vaerun run on the GPU. Logs go to $OUT (the device tool's output
# folder), else /tmp/vaerun-gpu-out; the last lines printed are a summary.
#
# The machine needs only the NVIDIA driver and a CUDA 13 toolkit (for
# cuBLAS): the Debian libraries come from the bundle, unpacked to
# /tmp/vaerun-gpu/lib. The test binaries are run directly, not through
# ctest: build-gpu's ctest files name this repository's path on the build
# machine, and the tests need no files (their data is synthetic).
#
# Usage: scripts/gpu_run.sh [--no-tests] [--sanitize] [--vaerun] [--big] [--quick]
#   --no-tests  skip the plain run of the three tests (e.g. a second call for
#               the sanitizer alone)
#   --sanitize  run gpu_ops, gpu_step (3 runs) and a short gpu_train under
#               compute-sanitizer memcheck, and gpu_ops under racecheck
#   --vaerun    also train configs/eight_gaussians_beta.yaml for 300 steps
#               with --backend cuda and with --backend cpu (generated data)
#   --big       include the big decoder in gpu_step (VAERUN_GPU_BIG=1)
#   --quick     gpu_train with 40 steps instead of 200
# Each program gets at most VAERUN_GPU_TIMEOUT seconds (default 420). The
# CPU reference of the tests uses VAERUN_GPU_REF_THREADS threads (default 8).
# $OUT receives at most six files (the device tool returns eight): summary.txt,
# machine.txt, tests.log, sanitizer.log, vaerun.log.
# Exit status: 0 when everything asked for passed; 1 otherwise, a test that
# skipped (no CUDA device seen) included.
set -u

cd "$(dirname "$0")/.."
BUNDLE=${VAERUN_GPU_BUNDLE:-build-gpu/bundle}
OUTDIR=${OUT:-/tmp/vaerun-gpu-out}
WORK=/tmp/vaerun-gpu
LIBDIR=$WORK/lib
LOGS=$WORK/logs
TESTS=1 SANITIZE=0 VAERUN=0 QUICK=0
export VAERUN_GPU_BIG=0
for a in "$@"; do
    case "$a" in
    --no-tests) TESTS=0 ;;
    --sanitize) SANITIZE=1 ;;
    --vaerun) VAERUN=1 ;;
    --big) VAERUN_GPU_BIG=1 ;;
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,36p' "$0"; exit 0 ;;
    *) echo "gpu_run.sh: unknown argument $a (see --help)" >&2; exit 2 ;;
    esac
done
mkdir -p "$OUTDIR"
SUMMARY=$OUTDIR/summary.txt
: >"$SUMMARY"
note() { echo "$*" | tee -a "$SUMMARY"; }

[ -d "$BUNDLE/bin" ] || { echo "gpu_run.sh: no $BUNDLE: run scripts/gpu_bundle.sh on the build machine and carry build-gpu/bundle" >&2; exit 1; }

# ---- libraries ----------------------------------------------------------------------

untar() {  # tar.xz without relying on xz being installed
    mkdir -p "$2"
    tar -xJf "$1" -C "$2" 2>/dev/null ||
        python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"
}
rm -rf "$WORK"
mkdir -p "$LOGS"
untar "$BUNDLE/lib.tar.xz" "$LIBDIR" || { echo "gpu_run.sh: cannot unpack $BUNDLE/lib.tar.xz" >&2; exit 1; }

# cuBLAS from this machine's CUDA toolkit (or from PyTorch's wheels).
CUBLAS_DIR=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 \
         /usr/local/cuda-13*/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu; do
    [ -e "$d/libcublas.so.13" ] && { CUBLAS_DIR=$d; break; }
done
if [ -z "$CUBLAS_DIR" ]; then
    CUBLAS_DIR=$(python3 -c 'import nvidia.cublas, os; print(os.path.join(list(nvidia.cublas.__path__)[0], "lib"))' 2>/dev/null || true)
fi
[ -n "$CUBLAS_DIR" ] && [ -e "$CUBLAS_DIR/libcublas.so.13" ] ||
    { echo "gpu_run.sh: no libcublas.so.13 found (CUDA 13 toolkit)" >&2; exit 1; }
export LD_LIBRARY_PATH=$LIBDIR:$CUBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# libstdc++ and libgcc_s: the machine's own, unless it has none
if ! ldconfig -p 2>/dev/null | grep -q 'libstdc++.so.6 '; then
    untar "$BUNDLE/fallback.tar.xz" "$WORK/fallback"
    export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:$WORK/fallback
fi

{
    echo "== machine"
    uname -a
    (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")
    nvidia-smi || echo "(nvidia-smi failed)"
    echo "cuBLAS from $CUBLAS_DIR"
    echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
    cat "$BUNDLE/MANIFEST"
} >"$OUTDIR/machine.txt" 2>&1
head -20 "$OUTDIR/machine.txt"

missing=0
for b in "$BUNDLE"/bin/*; do
    if ldd "$b" | grep -q "not found"; then
        echo "gpu_run.sh: $b cannot load:" >&2
        ldd "$b" | grep "not found" >&2
        missing=1
    fi
done
[ $missing = 0 ] || exit 1

# ---- the tests ----------------------------------------------------------------------

export VAERUN_GPU_REF_THREADS=${VAERUN_GPU_REF_THREADS:-8}
export OMP_NUM_THREADS=$VAERUN_GPU_REF_THREADS OPENBLAS_NUM_THREADS=$VAERUN_GPU_REF_THREADS
export GOMP_SPINCOUNT=1000
TIMEOUT=${VAERUN_GPU_TIMEOUT:-420}
[ $QUICK = 1 ] && export VAERUN_GPU_TRAIN_STEPS=40
failed=0

# run NAME LOG COMMAND...: runs it (at most TIMEOUT seconds), logs it,
# notes pass / skip / fail / timeout.
run() {
    local name=$1 log=$2
    shift 2
    local t0=$SECONDS
    echo "######## $name: $*" >"$log"
    timeout "$TIMEOUT" "$@" >>"$log" 2>&1
    local rc=$? dt=$((SECONDS - t0))
    local what=PASS
    case $rc in
    0) ;;
    77) what="SKIP (no CUDA device seen)"; failed=1 ;;
    124) what="TIMEOUT (${TIMEOUT}s)"; failed=1 ;;
    *) what="FAIL (exit $rc)"; failed=1 ;;
    esac
    note "$(printf '%-34s %-26s %4ds' "$name" "$what" "$dt")"
    if [ "$what" != PASS ]; then grep -E "FAIL|ERROR|error|SKIP" "$log" | head -12; fi
}

if [ $TESTS = 1 ]; then
    note "== GPU tests ($(date -u +%H:%M:%S), CPU reference on $VAERUN_GPU_REF_THREADS threads)"
    for t in gpu_ops gpu_step gpu_train; do
        run "$t" "$LOGS/1_$t.log" "$BUNDLE/bin/$t"
    done
fi

if [ $SANITIZE = 1 ]; then
    SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
    if [ -z "$SAN" ]; then
        note "compute-sanitizer: not found, skipped"
        failed=1
    else
        note "== compute-sanitizer ($SAN)"
        run "memcheck gpu_ops" "$LOGS/2_memcheck_ops.log" \
            "$SAN" --tool memcheck --error-exitcode 99 --print-limit 20 "$BUNDLE/bin/gpu_ops"
        run "memcheck gpu_step (3 runs)" "$LOGS/2_memcheck_step.log" \
            env VAERUN_GPU_CASES=0,4,6 "$SAN" --tool memcheck --error-exitcode 99 \
            --print-limit 20 "$BUNDLE/bin/gpu_step"
        run "memcheck gpu_train (20 steps)" "$LOGS/2_memcheck_train.log" \
            env VAERUN_GPU_TRAIN_STEPS=20 VAERUN_GPU_CASES=0,2 "$SAN" --tool memcheck \
            --error-exitcode 99 --print-limit 20 "$BUNDLE/bin/gpu_train"
        run "racecheck gpu_ops" "$LOGS/2_racecheck_ops.log" \
            "$SAN" --tool racecheck --error-exitcode 99 --print-limit 20 "$BUNDLE/bin/gpu_ops"
    fi
fi

if [ $VAERUN = 1 ]; then
    note "== vaerun on eight_gaussians_beta, 300 steps"
    for backend in cuda cpu; do
        rm -rf "$WORK/results-$backend"
        run "vaerun --backend $backend" "$LOGS/3_vaerun_$backend.log" \
            "$BUNDLE/bin/vaerun" --backend "$backend" --no-plot --quiet \
            --set train.steps=300 --set seeds=[0] \
            --out "$WORK/results-$backend" configs/eight_gaussians_beta.yaml
        f=$(find "$WORK/results-$backend" -name summary.csv 2>/dev/null | head -1)
        [ -n "$f" ] && { echo "   $backend: $f"; cat "$f"; } | tee -a "$SUMMARY"
    done
fi

# A few files for $OUT: the device tool returns at most eight.
cat "$LOGS"/1_*.log >"$OUTDIR/tests.log" 2>/dev/null
cat "$LOGS"/2_*.log >"$OUTDIR/sanitizer.log" 2>/dev/null
cat "$LOGS"/3_*.log >"$OUTDIR/vaerun.log" 2>/dev/null
find "$OUTDIR" -maxdepth 1 -type f -empty -delete

note "== summary"
grep -E "PASS|FAIL|SKIP|TIMEOUT" "$SUMMARY" | grep -v "^== " || true
if [ $failed = 0 ]; then note "all passed"; else note "SOME FAILED OR SKIPPED: logs in $OUTDIR"; fi
exit $failed
