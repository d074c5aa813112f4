#!/usr/bin/env bash
# smoke_configs.sh VAERUN SOURCE_DIR: every checked-in spec trains for a few
# steps on a small subset and writes a run.h5 that says done, with the
# series its objective records (kl_weight, multiplier, test_iwae) finite
# where they apply. Skips (77) without MNIST; Fashion-MNIST specs are skipped
# alone when that set is not installed.
set -u
vaerun="$1"; src="$2"
[[ -f "$src/data/mnist/train-images-idx3-ubyte" ]] || { echo "skipped: no MNIST"; exit 77; }
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
fails=0
py=/usr/bin/python3
for f in "$src"/configs/*.yaml; do
  name="$(basename "$f" .yaml)"
  if grep -q "set: fashion_mnist" "$f" && [[ ! -d /usr/share/datasets/fashion-mnist ]]; then
    echo "skip $name: Fashion-MNIST not installed"; continue
  fi
  if ! out="$("$vaerun" --no-plot --quiet --out "$tmp" --set seeds=[0] --set train.steps=4 \
        --set train.log_every=2 --set train.eval_every=2 --set data.train=256 \
        --set data.test=64 --set eval.iwae_samples=3 --set eval.iwae_images=8 \
        --set train.threads=1 "$f" 2>&1)"; then
    echo "FAIL $name:"; echo "$out" | sed 's/^/    /'; fails=$((fails + 1)); continue
  fi
  h5="$tmp/$name/runs/seed0/run.h5"
  if [[ -x $py ]] && $py -c 'import h5py' 2>/dev/null; then
    if ! $py - "$h5" <<'PY'
import sys, math, h5py
f = h5py.File(sys.argv[1], "r")
assert f.attrs["status"] == "done", f.attrs["status"]
m, e = f["metrics"], f["eval"]
n = len(m["step"])
assert n == 2 and all(len(m[k]) == n for k in m), {k: len(m[k]) for k in m}
kind = f["config"][()].decode()
for k in ("loss", "elbo", "recon", "kl", "kl_weight"):
    assert all(math.isfinite(v) for v in m[k]), (k, m[k][()])
if "kind: geco" in kind:
    assert all(math.isfinite(v) and v > 0 for v in m["multiplier"]), m["multiplier"][()]
assert all(math.isfinite(v) for v in e["test_iwae"]), e["test_iwae"][()]
for t in ("data", "reconstructions", "samples", "interpolations", "latent_mean", "labels"):
    assert t in f["tensors"], t
if "kind: logistic" in kind:
    assert f["tensors/output_log_scale"].shape == (1, 28, 28)
    assert f["params/likelihood/log_scale"].shape == (1, 28, 28)
print("ok  ", sys.argv[1].split("/")[-4], "test_elbo %.1f test_iwae %.1f" % (e["test_elbo"][-1], e["test_iwae"][-1]))
PY
    then echo "FAIL $name: run.h5 contents"; fails=$((fails + 1)); fi
  else
    echo "ok   $name (h5py not installed: contents not checked)"
  fi
done
exit $((fails ? 1 : 0))
