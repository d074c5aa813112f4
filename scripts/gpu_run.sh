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
# Usage: scripts/gpu_run.sh [--sanitize] [--vaerun] [--big] [--quick]
#   --sanitize  also run gpu_ops, gpu_step and a short gpu_train under
#               compute-sanitizer memcheck (and racecheck on gpu_ops)
#   --vaerun    also train configs/eight_gaussians_beta.yaml for 300 steps
#               with --backend cuda and --backend cpu (generated data)
#   --big       include the big decoder in gpu_step (VAERUN_GPU_BIG=1)
#   --quick     gpu_train with 40 steps instead of 200
# Exit status: 0 when every test passed (or was skipped), 1 otherwise.
set -u

cd "$(dirname "$0")/.."
BUNDLE=build-gpu/bundle
OUTDIR=${OUT:-/tmp/vaerun-gpu-out}
LIBDIR=/tmp/vaerun-gpu/lib
SANITIZE=0 VAERUN=0 QUICK=0
export VAERUN_GPU_BIG=0
for a in "$@"; do
    case "$a" in
    --sanitize) SANITIZE=1 ;;
    --vaerun) VAERUN=1 ;;
    --big) VAERUN_GPU_BIG=1 ;;
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
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
rm -rf /tmp/vaerun-gpu
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
    untar "$BUNDLE/fallback.tar.xz" /tmp/vaerun-gpu/fallback
    export LD_LIBRARY_PATH=$LD_LIBRARY_PATH:/tmp/vaerun-gpu/fallback
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

export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 GOMP_SPINCOUNT=1000
[ $QUICK = 1 ] && export VAERUN_GPU_TRAIN_STEPS=40
failed=0

# run NAME LOG COMMAND...: runs it, logs it, notes pass/skip/fail.
run() {
    local name=$1 log=$2
    shift 2
    local t0=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$? dt=$((SECONDS - t0))
    local what=PASS
    if [ $rc = 77 ]; then what=SKIP; elif [ $rc != 0 ]; then what="FAIL (exit $rc)"; failed=1; fi
    note "$(printf '%-34s %-14s %4ds  %s' "$name" "$what" "$dt" "$(basename "$log")")"
    if [ "$what" != PASS ]; then grep -E "FAIL|FAILED|ERROR|error|SKIP" "$log" | head -15; fi
}

note "== GPU tests ($(date -u +%H:%M:%S))"
for t in gpu_ops gpu_step gpu_train; do
    run "$t" "$OUTDIR/$t.log" "$BUNDLE/bin/$t"
done

if [ $SANITIZE = 1 ]; then
    SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
    if [ -z "$SAN" ]; then
        note "compute-sanitizer: not found, skipped"
    else
        note "== compute-sanitizer ($SAN)"
        run "memcheck gpu_ops" "$OUTDIR/san_memcheck_ops.log" \
            "$SAN" --tool memcheck --error-exitcode 99 --print-limit 20 "$BUNDLE/bin/gpu_ops"
        run "memcheck gpu_step (3 cases)" "$OUTDIR/san_memcheck_step.log" \
            env VAERUN_GPU_CASES=0,4,6 "$SAN" --tool memcheck --error-exitcode 99 \
            --print-limit 20 "$BUNDLE/bin/gpu_step"
        run "memcheck gpu_train (20 steps)" "$OUTDIR/san_memcheck_train.log" \
            env VAERUN_GPU_TRAIN_STEPS=20 VAERUN_GPU_CASES=0,2 "$SAN" --tool memcheck \
            --error-exitcode 99 --print-limit 20 "$BUNDLE/bin/gpu_train"
        run "racecheck gpu_ops" "$OUTDIR/san_racecheck_ops.log" \
            "$SAN" --tool racecheck --error-exitcode 99 --print-limit 20 "$BUNDLE/bin/gpu_ops"
    fi
fi

if [ $VAERUN = 1 ]; then
    note "== vaerun on eight_gaussians_beta, 300 steps"
    for backend in cuda cpu; do
        rm -rf "/tmp/vaerun-gpu/results-$backend"
        run "vaerun --backend $backend" "$OUTDIR/vaerun_$backend.log" \
            "$BUNDLE/bin/vaerun" --backend "$backend" --no-plot \
            --set train.steps=300 --set seeds=[0] \
            --out "/tmp/vaerun-gpu/results-$backend" configs/eight_gaussians_beta.yaml
        f=$(find "/tmp/vaerun-gpu/results-$backend" -name summary.csv 2>/dev/null | head -1)
        [ -n "$f" ] && { echo "   $f:"; cat "$f"; } | tee -a "$SUMMARY"
    done
fi

note "== summary"
tail -n +1 "$SUMMARY" | grep -E "PASS|FAIL|SKIP" || true
if [ $failed = 0 ]; then note "all passed"; else note "SOME FAILED: logs in $OUTDIR"; fi
exit $failed
