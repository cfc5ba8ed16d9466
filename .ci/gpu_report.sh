#!/usr/bin/env bash
# Runs `deno task gpu-report` on a bare Linux machine with an NVIDIA driver (see GPU.md).
#
#   .ci/gpu_report.sh pack DIR      on a machine with the network: writes DIR/ (under 64 MiB):
#                                   this script, the Deno binary (xz), Debian's libvulkan1 .deb,
#                                   the repository's sources, and as many fixture variants as fit
#                                   (one archive each)
#   DIR/gpu_report.sh run [ARGS]    on the GPU machine, from the copied DIR: unpacks, finds a
#                                   Vulkan loader and the NVIDIA ICD, runs the report under a
#                                   timeout; ARGS go to the report (default --budget 420)
#
# Environment: DENO_VERSION (2.9.6), BUNDLE_MIB (63: the bundle's ceiling), WORK (where `run`
# unpacks; default a fresh temporary folder), OUT (where the JSON goes; default DIR),
# VK_ICD_FILENAMES (an ICD json to use instead of searching), TIMEOUT_S (480).
set -euo pipefail

DENO_VERSION="${DENO_VERSION:-2.9.6}"
BUNDLE_MIB="${BUNDLE_MIB:-63}"
# Fixture variants in the order they are packed while there is room: the issue's goal
# variants first, then the small video ones, then the other images (about 10 MiB each). Each
# needs its encoder, decoder and case files only.
VARIANTS="CV4x8x8 CI8x8 DV4x8x8 CV8x8x8 DV8x8x8 CV8x16x16 DV8x16x16 DI8x8 CI16x16 DI16x16"

die() {
  echo "gpu_report.sh: $*" >&2
  exit 1
}

pack() {
  local dir="${1:?usage: gpu_report.sh pack DIR}"
  local repo
  repo="$(cd "$(dirname "$0")/.." && pwd)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  cp "$repo/.ci/gpu_report.sh" "$dir/gpu_report.sh"

  # Deno: the binary of the npm package's platform package (what `npx deno@X` runs), from
  # npm's cache when `npx` has fetched it, else with `npm pack`.
  local bin
  bin="$(find "${HOME:-/root}/.npm/_npx" -path "*/@deno/linux-x64-glibc/deno" -type f 2>/dev/null |
    while read -r f; do
      grep -q "\"version\": \"$DENO_VERSION\"" "$(dirname "$f")/package.json" && echo "$f" && break
    done || true)"
  if [ -z "$bin" ]; then
    (cd "$tmp" && npm pack --silent "@deno/linux-x64-glibc@$DENO_VERSION" >/dev/null) ||
      die "cannot fetch @deno/linux-x64-glibc@$DENO_VERSION with npm pack"
    tar -xzf "$tmp"/deno-linux-x64-glibc-*.tgz -C "$tmp"
    bin="$tmp/package/deno"
  fi
  "$bin" --version | grep -q "deno $DENO_VERSION" || die "$bin is not Deno $DENO_VERSION"
  if [ ! -s "$dir/deno.xz" ]; then
    echo "compressing Deno $DENO_VERSION ($(($(stat -c %s "$bin") / 1048576)) MiB) ..."
    xz -T0 -9 -c "$bin" >"$dir/deno.xz.part" && mv "$dir/deno.xz.part" "$dir/deno.xz"
  fi

  # The Vulkan loader, for a machine whose driver has no libvulkan.so.1 beside it.
  if ! ls "$dir"/libvulkan1_*.deb >/dev/null 2>&1; then
    (cd "$dir" && apt-get download libvulkan1 >/dev/null 2>&1) ||
      echo "note: could not download libvulkan1 (apt-get download); the GPU machine must have its own loader"
  fi

  # Sources, then each fixture variant in its own archive while the bundle stays under
  # BUNDLE_MIB (measured compressed: a variant that does not fit is dropped, a smaller may).
  (cd "$repo" && git ls-files mod.ts deno.json deno.lock src | tar -cf - -T -) | xz -T0 -6 >"$dir/repo.tar.xz"
  rm -f "$dir"/fixtures-*.tar.xz
  local budget=$((BUNDLE_MIB * 1048576)) packed="" left_out="" v files used size
  for v in $VARIANTS; do
    files=$(cd "$repo" && ls test/fixtures/"$v"/{encoder,decoder}.safetensors test/fixtures/"$v"/case_*.safetensors 2>/dev/null) ||
      continue
    # shellcheck disable=SC2086 # one word per file
    (cd "$repo" && tar -cf - $files) | xz -T0 -6 >"$tmp/$v.tar.xz"
    used=$(du -cb "$dir"/* | tail -1 | cut -f1)
    size=$(stat -c %s "$tmp/$v.tar.xz")
    if [ $((used + size)) -le "$budget" ]; then
      mv "$tmp/$v.tar.xz" "$dir/fixtures-$v.tar.xz"
      packed="$packed $v"
    else
      left_out="$left_out $v"
    fi
  done
  echo "fixtures packed:${packed:- none}"
  [ -z "$left_out" ] || echo "fixtures left out (no room under $BUNDLE_MIB MiB):$left_out"
  local total
  total=$(du -cb "$dir"/* | tail -1 | cut -f1)
  echo "wrote $dir: $((total / 1048576)) MiB ($total bytes)"
  [ "$total" -le $((64 * 1048576)) ] || die "the bundle is over 64 MiB: lower BUNDLE_MIB"
}

# The NVIDIA ICD json, where drivers and container toolkits put it; else one written here for
# the driver's own library (the Vulkan ICD lives in libGLX_nvidia.so.0).
find_icd() {
  local f
  for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
    /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json /etc/vulkan/icd.d/nvidia_icd.x86_64.json \
    /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json \
    /usr/local/share/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$f" ] && echo "$f" && return
  done
  if ldconfig -p 2>/dev/null | grep -q libGLX_nvidia.so.0; then
    f="$WORK/nvidia_icd.json"
    printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "libGLX_nvidia.so.0", "api_version": "1.3.0"}}\n' >"$f"
    echo "$f"
  fi
}

run() {
  local dir
  dir="$(cd "$(dirname "$0")" && pwd)"
  WORK="${WORK:-$(mktemp -d)}"
  OUT="${OUT:-$dir}"
  mkdir -p "$WORK" "$OUT"
  [ -s "$dir/deno.xz" ] && [ -s "$dir/repo.tar.xz" ] || die "$dir has no deno.xz or repo.tar.xz: run pack first"
  xz -dc "$dir/deno.xz" >"$WORK/deno"
  chmod +x "$WORK/deno"
  local a
  for a in "$dir/repo.tar.xz" "$dir"/fixtures-*.tar.xz; do
    [ -f "$a" ] && xz -dc "$a" | tar -xf - -C "$WORK"
  done
  # The loader: the system's, else Debian's package unpacked here (no root needed).
  if [ -n "${FORCE_DEB_LOADER:-}" ] || ! ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 '; then
    local deb
    deb="$(ls "$dir"/libvulkan1_*.deb 2>/dev/null | head -n 1)"
    [ -n "$deb" ] || die "no libvulkan.so.1 on this machine and no libvulkan1 .deb in $dir"
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$deb" "$WORK/vk"
    else # a .deb is an ar archive holding data.tar.*
      (cd "$WORK" && mkdir -p vk debx && cd debx && ar x "$deb" && tar -xf data.tar.* -C ../vk)
    fi
    export LD_LIBRARY_PATH="$WORK/vk/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "Vulkan loader: $deb (unpacked in $WORK/vk)"
  fi
  if [ -z "${VK_ICD_FILENAMES:-}" ]; then
    local icd
    icd="$(find_icd)"
    [ -n "$icd" ] || echo "note: no NVIDIA ICD json found; the loader will search its default paths"
    [ -z "$icd" ] || export VK_ICD_FILENAMES="$icd"
  fi
  echo "VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-}"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$WORK}" DENO_DIR="$WORK/deno_dir" DENO_NO_UPDATE_CHECK=1
  local args=("$@")
  [ ${#args[@]} -gt 0 ] || args=(--budget 420)
  cd "$WORK"
  timeout "${TIMEOUT_S:-480}" ./deno run --allow-read --allow-write --allow-env \
    src/bench/gpu_report.ts --out "$OUT/gpu-report.json" "${args[@]}"
}

case "${1:-}" in
pack) shift && pack "$@" ;;
run) shift && run "$@" ;;
*) die "usage: gpu_report.sh pack DIR | gpu_report.sh run [REPORT ARGS]" ;;
esac
