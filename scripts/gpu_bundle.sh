#!/usr/bin/env bash
# gpu_bundle.sh: build vaerun and its GPU tests for sm_90 here (Debian 12
# with the CUDA toolkit) and bundle everything a GPU machine without a
# package manager needs to run them, into build-gpu/bundle/:
#
#   bin/          vaerun and the GPU tests (gpu_ops, gpu_step, gpu_train), stripped
#   lib.tar.xz    the Debian runtime libraries they load that such a machine
#                 lacks (OpenBLAS, libgomp, libgfortran, libyaml, HDF5 and its
#                 dependencies, ...), from the Debian packages (.debs fetched with
#                 apt-get download and unpacked with dpkg -x; the installed
#                 files when apt cannot fetch)
#   fallback.tar.xz  libstdc++ and libgcc_s, used only where the machine has none
#   MANIFEST      the commit, the packages and versions, the sizes
#
# Not bundled: glibc (the binaries need GLIBC_2.35 at most), the driver, and
# cuBLAS, which comes from the GPU machine's own CUDA 13 toolkit (too large to
# carry: 600 MB). Everything is compressed to fit the device tool's 64 MiB
# carry limit with room to spare (about 15 MB).
#
# On the GPU machine, from the repository root: scripts/gpu_run.sh
# (the device tool: run with carry ["build-gpu/bundle"]). The ctest files in
# build-gpu/ hold this machine's absolute paths, so gpu_run.sh runs the test
# binaries directly instead: they need no paths (synthetic data, no files).
#
# Usage: scripts/gpu_bundle.sh [--jobs N] [--arch 90]
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=1
ARCH=90
while [ $# -gt 0 ]; do
    case "$1" in
    --jobs) JOBS=$2; shift 2 ;;
    --arch) ARCH=$2; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "gpu_bundle.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

BUILD=$ROOT/build-gpu
BUNDLE=$BUILD/bundle
TARGETS="vaerun gpu_ops gpu_step gpu_train"

command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] ||
    { echo "gpu_bundle.sh: no nvcc: install the CUDA toolkit first" >&2; exit 1; }

echo "== configure and build for sm_$ARCH in $BUILD"
mkdir -p "$BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVR_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DVR_CUDA_EMU=OFF >"$BUILD/configure.log" 2>&1 ||
    { cat "$BUILD/configure.log"; exit 1; }
# shellcheck disable=SC2086
cmake --build "$BUILD" -j "$JOBS" --target $TARGETS

rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/bin"
for t in $TARGETS; do
    f=$(find "$BUILD" -maxdepth 2 -type f -name "$t" -perm -u+x | head -1)
    [ -n "$f" ] || { echo "gpu_bundle.sh: $t was not built" >&2; exit 1; }
    cp "$f" "$BUNDLE/bin/$t"
    strip --strip-unneeded "$BUNDLE/bin/$t"
done

# ---- the libraries ------------------------------------------------------------------

# Libraries the GPU machine brings itself: glibc, the CUDA toolkit and driver.
is_system() {
    case "$1" in
    linux-vdso.so*|ld-linux*|libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|\
    libresolv.so*|libutil.so*) return 0 ;;
    libcublas*|libcublasLt*|libcudart*|libcuda.so*|libnvidia*) return 0 ;;
    esac
    return 1
}
is_fallback() { case "$1" in libstdc++.so*|libgcc_s.so*) return 0 ;; esac; return 1; }

declare -A PATHS=()
for b in "$BUNDLE"/bin/*; do
    while read -r name arrow path _; do
        [ "$arrow" = "=>" ] || continue
        if [ "$path" = "not" ]; then
            is_system "$name" && continue
            echo "gpu_bundle.sh: $b needs $name, which is not installed here" >&2
            exit 1
        fi
        is_system "$name" || PATHS[$name]=$path
    done < <(ldd "$b")
done

STAGE=$BUILD/runtime
DEBS=$BUILD/debs
rm -rf "$STAGE"
mkdir -p "$STAGE/lib" "$STAGE/fallback" "$STAGE/root" "$DEBS"
MANIFEST=$BUNDLE/MANIFEST
{
    echo "vaerun GPU bundle"
    echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
    echo "nvcc: $("$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)" --version | tail -2 | head -1)"
    echo "arch: sm_$ARCH"
    echo "libraries (soname <- package version):"
} >"$MANIFEST"

for name in "${!PATHS[@]}"; do
    path=${PATHS[$name]}
    real=$(readlink -f "$path")
    # dpkg knows the file under the path it installed, which may be the
    # merged-/usr twin of what ldd printed.
    pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$real" 2>/dev/null ||
          dpkg -S "${real#/usr}" 2>/dev/null || true)
    pkg=${pkg%%:*}
    src=""
    if [ -n "$pkg" ]; then
        ver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || echo "?")
        if [ ! -d "$STAGE/root/$pkg" ]; then
            if (cd "$DEBS" && ls "${pkg}"_*.deb >/dev/null 2>&1 ||
                timeout 120 apt-get download "$pkg=$ver" >/dev/null 2>&1); then
                mkdir -p "$STAGE/root/$pkg"
                dpkg -x "$DEBS/$(cd "$DEBS" && ls "${pkg}"_*.deb | head -1)" "$STAGE/root/$pkg"
            fi
        fi
        # the same file inside the unpacked package
        for cand in "$STAGE/root/$pkg$path" "$STAGE/root/$pkg$real" \
                    "$STAGE/root/$pkg${real#/usr}" "$STAGE/root/$pkg/usr${real#/usr}"; do
            [ -e "$cand" ] && { src=$(readlink -f "$cand"); break; }
        done
        [ -n "$src" ] || [ ! -d "$STAGE/root/$pkg" ] ||
            echo "  note: $name not found in $pkg's .deb: using the installed file" >&2
        from=$([ -n "$src" ] && echo deb || echo installed)
    else
        ver="(no package)"
        from=installed
    fi
    [ -n "$src" ] || src=$real
    dest=$STAGE/lib
    is_fallback "$name" && dest=$STAGE/fallback
    cp "$src" "$dest/$name"
    echo "  $name <- ${pkg:-?} $ver ($from)" >>"$MANIFEST"
done

tar -C "$STAGE/lib" -cJf "$BUNDLE/lib.tar.xz" .
tar -C "$STAGE/fallback" -cJf "$BUNDLE/fallback.tar.xz" .
{
    echo "files:"
    (cd "$BUNDLE" && find . -type f ! -name MANIFEST -printf '  %p %s\n' | sort)
    echo "total: $(du -sb "$BUNDLE" | cut -f1) bytes"
} >>"$MANIFEST"
cat "$MANIFEST"
total=$(du -sb "$BUNDLE" | cut -f1)
if [ "$total" -gt $((48 << 20)) ]; then
    echo "gpu_bundle.sh: the bundle is $total bytes: too close to the device tool's 64 MiB" >&2
    exit 1
fi
echo "== $BUNDLE is ready ($((total >> 20)) MiB): carry [\"build-gpu/bundle\"] and run scripts/gpu_run.sh"
