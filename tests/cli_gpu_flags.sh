#!/usr/bin/env bash
# cli_gpu_flags.sh VAERUN SOURCE_DIR: --backend, --devices, --streams and
# the debug flags of the threaded path: bad values and combinations stop
# with a clear message and exit 2 before anything trains; --backend cuda
# (or --devices) on a machine without a GPU says so and names the fix;
# --jobs alone picks the CPU; --help documents the flags.
set -u
vaerun="$1"; src="$2"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fails=0

# shellcheck source=lib.sh
source "$src/tests/lib.sh" || { echo "FAIL no $src/tests/lib.sh"; exit 1; }

cat > "$tmp/s.yaml" <<'Y'
name: s
data: {train: 100, test: 50}
model: {arch: mlp, hidden: [8], latent: 2}
train: {steps: 2, batch: 8}
Y
run=("$vaerun" --no-plot --quiet --out "$tmp/res")

expect "help: backend" 0 "--backend cuda|cpu" -- "$vaerun" --help
expect "help: devices" 0 "--devices 0,1,..." -- "$vaerun" --help
expect "help: streams" 0 "--streams N" -- "$vaerun" --help
expect "help: docs" 0 "docs/gpu.md" -- "$vaerun" --help

expect "backend value" 2 "vaerun: --backend gpu: expected cuda or cpu" -- "${run[@]}" --backend gpu "$tmp/s.yaml"
expect "backend needs a value" 2 "vaerun: --backend needs a value" -- "${run[@]}" "$tmp/s.yaml" --backend
expect "streams 0" 2 "vaerun: --streams 0: expected a number from 1 to 64" -- "${run[@]}" --streams 0 "$tmp/s.yaml"
expect "streams 65" 2 "vaerun: --streams 65: expected a number from 1 to 64" -- "${run[@]}" --streams 65 "$tmp/s.yaml"
expect "streams text" 2 "vaerun: --streams four: expected a number from 1 to 64" -- "${run[@]}" --streams four "$tmp/s.yaml"
expect "devices twice" 2 "vaerun: --devices 0,1,0: device 0 is given twice" -- "${run[@]}" --devices 0,1,0 "$tmp/s.yaml"
expect "devices text" 2 "vaerun: --devices gpu0: expected device numbers separated by commas, such as 0,1" -- "${run[@]}" --devices gpu0 "$tmp/s.yaml"
expect "devices negative" 2 "vaerun: --devices -1: expected device numbers separated by commas" -- "${run[@]}" --devices -1 "$tmp/s.yaml"
expect "devices trailing comma" 2 "vaerun: --devices 0,: expected device numbers separated by commas" -- "${run[@]}" --devices 0, "$tmp/s.yaml"
expect "devices empty" 2 "vaerun: --devices: empty; give device numbers such as 0,1" -- "${run[@]}" --devices "" "$tmp/s.yaml"
expect "devices with cpu" 2 "vaerun: --devices picks GPUs; with --backend cpu use --jobs or --streams" -- "${run[@]}" --backend cpu --devices 0 "$tmp/s.yaml"
expect "jobs with cuda" 2 "vaerun: --jobs sets how many CPU processes train at once; with --backend cuda use --streams" -- "${run[@]}" --backend cuda --jobs 2 "$tmp/s.yaml"
expect "jobs and streams" 2 "give one" -- "${run[@]}" --backend cpu --jobs 2 --streams 2 "$tmp/s.yaml"
expect "jobs and streams, no backend" 2 "give one" -- "${run[@]}" --jobs 2 --streams 2 "$tmp/s.yaml"
expect "jobs and devices" 2 "vaerun: --devices picks GPUs and --jobs sets CPU processes" -- "${run[@]}" --jobs 2 --devices 0 "$tmp/s.yaml"
expect "debug-mem alone" 2 "they need --backend cpu --streams N" -- "${run[@]}" --debug-mem 4M "$tmp/s.yaml"
expect "debug-mem size" 2 "vaerun: --debug-mem 4X: expected a size such as 4M or 1.5G" -- "${run[@]}" --backend cpu --streams 2 --debug-mem 4X "$tmp/s.yaml"
expect "debug-devices range" 2 "vaerun: --debug-devices 0: expected a number from 1 to 16" -- "${run[@]}" --backend cpu --streams 2 --debug-devices 0 "$tmp/s.yaml"
# check and list take the flags (and their checks) but need no device.
expect "check with cuda flags" 0 "ok (1 run)" -- "$vaerun" check --backend cuda --devices 0 --streams 8 "$tmp/s.yaml"
expect "check with a bad flag" 2 "vaerun: --streams 0" -- "$vaerun" check --streams 0 "$tmp/s.yaml"

# A device that exists nowhere: "no such device" with a GPU, "no GPU" without.
out="$("${run[@]}" --backend cuda --devices 999 "$tmp/s.yaml" 2>&1)"; rc=$?
if grep -q "there is no device 999" <<<"$out"; then
  [[ $rc -eq 2 ]] || { echo "FAIL devices 999: exit $rc"; fails=$((fails + 1)); }
  echo "ok   devices 999 (this machine has a GPU: the no-GPU messages are not checked)"
else
  expect "cuda without a GPU" 2 "vaerun: --backend cuda: " -- "${run[@]}" --backend cuda "$tmp/s.yaml"
  expect "cuda without a GPU: the fix" 2 "use --backend cpu to train on the CPU" -- "${run[@]}" --backend cuda "$tmp/s.yaml"
  expect "devices without a GPU" 2 "leave --devices out to train on the CPU" -- "${run[@]}" --devices 0 "$tmp/s.yaml"
  [[ ! -e "$tmp/res" ]] || { echo "FAIL a refused sweep created its results folder"; fails=$((fails + 1)); }
fi

echo "$fails failed"
exit $((fails ? 1 : 0))
