#!/usr/bin/env bash
# One command: system dependencies, the native shim + PTX kernels (CMake), the .NET solution; `./build.sh test` also runs every test.
#   ./build.sh          build everything (fast when nothing changed)
#   ./build.sh test     build, then run all tests (dotnet test)
#   ./build.sh native   build only the native library
#   ./build.sh pack     build, then the NuGet packages into artifacts/packages/: Hyprstream (Runtime + Interop + the
#                       native libraries), Hyprstream.Flight, Hyprstream.Replication, Hyprstream.Service, the Hyprstream.Tool tool
#                       (+ .snupkg symbols). `./build.sh test` packs too: the packaging tests install them.
#   ./build.sh kernels-check   build, then check the kernels with the CUDA toolkit's tools (no GPU needed): both PTX
#                       builds (clang, nvcc) through ptxas for sm_80/sm_90 (no spills), the fatbin's contents, and a
#                       configure whose nvcc fails still building the PTX. Needs nvcc, ptxas, cuobjdump; CI runs it.
# With VCPKG_ROOT set, the native build uses vcpkg's toolchain and vcpkg.json instead of Debian's packages.
# NATIVE_CMAKE_ARGS: more arguments for the native configure (run again whenever set; the values stay in the CMake
# cache until build/native is removed), e.g. -DHS_NVCC_KERNELS=OFF (build as if no CUDA toolkit were installed) or
# -DHS_NVCC_CCBIN=g++-11 (nvcc's host compiler).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
MODE=${1:-build}
CONFIG=${CONFIG:-Release}
NATIVE_BUILD="$ROOT/build/native"
NATIVE_OUT="$ROOT/.artifacts/native"
PACKAGES="$ROOT/artifacts/packages"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]} — run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

deps() {
  if [ -n "${VCPKG_ROOT:-}" ]; then
    command -v cmake >/dev/null && command -v g++ >/dev/null || apt_install cmake g++ pkg-config
    return
  fi
  if command -v dpkg >/dev/null 2>&1; then
    apt_install cmake g++ make libopenvdb-dev libnanovdb-dev libtbb-dev libblosc-dev libboost-iostreams-dev \
      libimath-dev libzstd-dev clang-14
    if [ "$MODE" = test ]; then
      # Independent OpenVDB readers used by the interop tests.
      apt_install python3-openvdb libopenvdb-tools python3-numpy
      # The independent Arrow Flight client (tests/interop) runs on Node.js.
      command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || apt_install nodejs npm
      # The observability tests: a real Prometheus (and promtool) scraping `serve --metrics`, and `top` under tmux.
      apt_install prometheus tmux
      # The replication tests: a real single-node Ceph object store (monitor, memstore OSD, radosgw) on loopback.
      apt_install ceph-mon ceph-osd radosgw ceph-common
    fi
  fi
  if ! command -v dotnet >/dev/null 2>&1; then
    echo "the .NET 10 SDK is required (https://dotnet.microsoft.com/download); dotnet was not found on PATH" >&2
    exit 1
  fi
}

native() {
  local args=(-S "$ROOT/native" -B "$NATIVE_BUILD" -DCMAKE_BUILD_TYPE=Release)
  if [ -n "${VCPKG_ROOT:-}" ]; then
    args+=(-DCMAKE_TOOLCHAIN_FILE="$VCPKG_ROOT/scripts/buildsystems/vcpkg.cmake" -DVCPKG_MANIFEST_DIR="$ROOT")
  fi
  # shellcheck disable=SC2206
  [ -z "${NATIVE_CMAKE_ARGS:-}" ] || args+=($NATIVE_CMAKE_ARGS)
  if [ ! -f "$NATIVE_BUILD/CMakeCache.txt" ] || [ -n "${NATIVE_CMAKE_ARGS:-}" ]; then
    say "configuring native library"
    mkdir -p "$NATIVE_BUILD"
    cmake "${args[@]}" > "$NATIVE_BUILD/configure.log" || { cat "$NATIVE_BUILD/configure.log" >&2; exit 1; }
    grep '^-- hyprstream' "$NATIVE_BUILD/configure.log" || true   # which compilers build the kernels
  fi
  say "building native library"
  if ! cmake --build "$NATIVE_BUILD" -j"$(nproc)" > "$NATIVE_BUILD/build.log" 2>&1; then
    grep -E 'error|Error' "$NATIVE_BUILD/build.log" >&2 || cat "$NATIVE_BUILD/build.log" >&2
    echo "native build failed (full log: $NATIVE_BUILD/build.log)" >&2
    exit 1
  fi
  mkdir -p "$NATIVE_OUT"
  cp -u "$NATIVE_BUILD/libhyprstream_native.so" "$NATIVE_OUT/"
  # Every shared library the shim needs (but glibc and the C++ runtime .NET itself loads) beside it, found through
  # its RPATH $ORIGIN, and THIRD-PARTY-NOTICES.txt: the repository build runs on the same files the packages ship.
  "$ROOT/packaging/bundle-native.sh" "$NATIVE_BUILD/libhyprstream_native.so" "$NATIVE_OUT" > "$NATIVE_BUILD/bundle.log" \
    || { cat "$NATIVE_BUILD/bundle.log" >&2; exit 1; }
  # The CUDA kernels, loaded at run time by the CUDA backend: the PTX (clang-14) always; where nvcc works also the
  # fatbin (loaded first: SASS for sm_80/sm_90) and nvcc's PTX (for the tests). No stale copies of the optional ones.
  test -f "$NATIVE_BUILD/hyprstream_kernels.ptx" || { echo "PTX build failed (is clang-14 installed?)" >&2; exit 1; }
  cp -u "$NATIVE_BUILD/hyprstream_kernels.ptx" "$NATIVE_OUT/"
  local f
  for f in hyprstream_kernels.fatbin hyprstream_kernels.nvcc.ptx; do
    if [ -f "$NATIVE_BUILD/$f" ]; then cp -u "$NATIVE_BUILD/$f" "$NATIVE_OUT/"; else rm -f "$NATIVE_OUT/$f"; fi
  done
  cp -u "$NATIVE_BUILD/hs_kernel_emulation_test" "$NATIVE_OUT/"   # the kernels on CPU threads, run by the tests
}

# npm packages of the Node Flight interop client, exactly as locked in tests/interop/package-lock.json.
interop() {
  local dir="$ROOT/tests/interop"
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    say "npm ci (tests/interop)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

kernels_check() {
  local out=$NATIVE_BUILD f
  for f in hyprstream_kernels.fatbin hyprstream_kernels.nvcc.ptx; do
    [ -f "$out/$f" ] || { echo "kernels-check: $out/$f was not built: nvcc is missing or fails (see the configure message in $out/configure.log)" >&2; exit 1; }
  done
  say "ptxas: clang's and nvcc's PTX for sm_80 and sm_90"
  "$ROOT/native/kernels/check_ptx.sh" "$out/hyprstream_kernels.ptx" "$out/hyprstream_kernels.nvcc.ptx"
  say "fatbin: SASS for sm_80 and sm_90, PTX for newer GPUs"
  local listing; listing=$(cuobjdump --list-elf --list-ptx "$out/hyprstream_kernels.fatbin")
  echo "$listing"
  for f in 'ELF .*sm_80\.cubin' 'ELF .*sm_90\.cubin' 'PTX .*sm_80\.ptx'; do
    grep -qE "$f" <<<"$listing" || { echo "kernels-check: the fatbin lacks $f" >&2; exit 1; }
  done
  # Without a working nvcc the build must still make the (same) PTX: a configure whose nvcc host compiler fails.
  say "a build whose nvcc fails (HS_NVCC_CCBIN=/bin/false): clang's PTX only"
  local alt="$ROOT/build/native-nvcc-fails"
  rm -rf "$alt"
  cmake -S "$ROOT/native" -B "$alt" -DCMAKE_BUILD_TYPE=Release -DHS_NVCC_CCBIN=/bin/false > "$alt.log" 2>&1 || { cat "$alt.log" >&2; exit 1; }
  grep -q "Building clang's PTX only" "$alt.log" || { cat "$alt.log" >&2; echo "kernels-check: no fallback message" >&2; exit 1; }
  cmake --build "$alt" --target hyprstream_kernels >> "$alt.log" 2>&1 || { cat "$alt.log" >&2; exit 1; }
  [ ! -e "$alt/hyprstream_kernels.fatbin" ] || { echo "kernels-check: a fatbin was built although nvcc failed" >&2; exit 1; }
  cmp "$alt/hyprstream_kernels.ptx" "$out/hyprstream_kernels.ptx" || { echo "kernels-check: the fallback PTX differs" >&2; exit 1; }
  rm -rf "$alt" "$alt.log"
  echo "the fallback build made the same PTX and no fatbin"
}

managed() {
  say "building .NET solution ($CONFIG)"
  dotnet build "$ROOT/Hyprstream.sln" -c "$CONFIG" -nologo -clp:ErrorsOnly -v:q
}

pack() {
  if grep -q NOTICE-MISSING "$NATIVE_OUT/THIRD-PARTY-NOTICES.txt"; then
    grep NOTICE-MISSING "$NATIVE_OUT/THIRD-PARTY-NOTICES.txt" >&2
    echo "pack: a bundled library has no licence notice (above); add it to $NATIVE_OUT/THIRD-PARTY-NOTICES.txt's sources" >&2
    exit 1
  fi
  say "packing into artifacts/packages"
  rm -rf "$PACKAGES"
  dotnet pack "$ROOT/Hyprstream.sln" -c "$CONFIG" --no-build -nologo -clp:ErrorsOnly -v:q -o "$PACKAGES"
  ls "$PACKAGES"
}

case "$MODE" in
  build) deps; native; managed ;;
  pack) deps; native; managed; pack ;;
  native) deps; native ;;
  kernels-check) deps; native; kernels_check ;;
  test)
    deps; native; managed; pack
    interop
    say "running tests"
    dotnet test "$ROOT/Hyprstream.sln" -c "$CONFIG" --no-build -nologo -v:q --logger "console;verbosity=normal" ${TEST_FILTER:+--filter "$TEST_FILTER"}
    ;;
  *) echo "usage: ./build.sh [build|test|pack|native|kernels-check]" >&2; exit 2 ;;
esac
