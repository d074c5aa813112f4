#!/usr/bin/env bash
# cli_errors.sh VAERUN SOURCE_DIR: what a user sees on bad input.
#  - a bad spec stops with FILE:LINE:COL, exit 2, and trains nothing;
#  - a missing dataset names the command that fetches it, exit 2;
#  - every checked-in config passes `vaerun check`;
#  - --set errors name the key.
set -u
vaerun="$1"; src="$2"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fails=0

# shellcheck source=lib.sh
source "$src/tests/lib.sh" || { echo "FAIL no $src/tests/lib.sh"; exit 1; }

cat > "$tmp/typo.yaml" <<'Y'
name: typo
train:
  stpes: 10
Y
expect "unknown key" 2 "$tmp/typo.yaml:3:3: unknown key 'stpes'" -- "$vaerun" --no-plot --out "$tmp/res" "$tmp/typo.yaml"

cat > "$tmp/type.yaml" <<'Y'
model: {arch: mlp, latent: ten}
Y
expect "wrong type" 2 "$tmp/type.yaml:1:28: model.latent: expected an integer" -- "$vaerun" --no-plot --out "$tmp/res" "$tmp/type.yaml"

cat > "$tmp/range.yaml" <<'Y'
train:
  batch: 0
Y
expect "out of range" 2 "$tmp/range.yaml:2:10: train.batch: 0 is out of range" -- "$vaerun" check "$tmp/range.yaml"

cat > "$tmp/choice.yaml" <<'Y'
model:
  arch: huge
Y
expect "bad choice" 2 "$tmp/choice.yaml:2:9: model.arch: 'huge' is not one of" -- "$vaerun" check "$tmp/choice.yaml"

expect "missing file" 2 "$tmp/nosuch.yaml: cannot open" -- "$vaerun" "$tmp/nosuch.yaml"
expect "bad --set" 2 "--set train.steps=abc" -- "$vaerun" check --set train.steps=abc "$src/configs/mnist_mlp.yaml"

if [[ -e "$tmp/res" ]]; then echo "FAIL: a bad spec created results"; fails=$((fails + 1)); fi

cat > "$tmp/nodata.yaml" <<Y
data: {set: mnist, dir: $tmp/empty}
model: {arch: mlp}
train: {steps: 1}
Y
mkdir -p "$tmp/empty"
expect "missing dataset" 2 "scripts/fetch_data.sh" -- "$vaerun" --no-plot --out "$tmp/res2" "$tmp/nodata.yaml"

# A run that goes NaN fails alone: status failed with the message in run.h5,
# the other seed is done, the exit status is 1. Needs MNIST.
if [[ -f "$src/data/mnist/train-images-idx3-ubyte" ]]; then
  cat > "$tmp/nan.yaml" <<Y
data: {train: 1000, test: 100}
model: {arch: mlp, hidden: [32], latent: 2}
train: {steps: 40, batch: 32, log_every: 10, eval_every: 20, threads: 1}
seeds: [0, 1]
Y
  expect "NaN run fails alone" 1 "1 done, 0 already done, 1 failed" -- \
    "$vaerun" --no-plot --out "$tmp/res3" --debug-nan 0:15 "$tmp/nan.yaml"
  if command -v h5dump >/dev/null; then
    expect "failed status in run.h5" 0 '"failed"' -- h5dump -a /status "$tmp/res3/nan/runs/seed0/run.h5"
    expect "failure message in run.h5" 0 'step 20: loss is NaN' -- h5dump -a /message "$tmp/res3/nan/runs/seed0/run.h5"
    expect "other seed done" 0 '"done"' -- h5dump -a /status "$tmp/res3/nan/runs/seed1/run.h5"
  fi
fi

for f in "$src"/configs/*.yaml "$src"/sweeps/*.yaml; do
  expect "check $(basename "$f")" 0 ": ok" -- "$vaerun" check "$f"
done

exit $((fails ? 1 : 0))
