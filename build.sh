#!/usr/bin/env bash
# One command: system dependencies, the native shim + PTX kernels (CMake), the .NET solution; `./build.sh test` also runs every test.
#   ./build.sh          build everything (fast when nothing changed)
#   ./build.sh test     build, then run all tests (dotnet test)
#   ./build.sh native   build only the native library
# With VCPKG_ROOT set, the native build uses vcpkg's toolchain and vcpkg.json instead of Debian's packages.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
MODE=${1:-build}
CONFIG=${CONFIG:-Release}
NATIVE_BUILD="$ROOT/build/native"
NATIVE_OUT="$ROOT/.artifacts/native"

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
  if [ ! -f "$NATIVE_BUILD/CMakeCache.txt" ]; then
    say "configuring native library"
    cmake "${args[@]}" >/dev/null
  fi
  say "building native library"
  if ! cmake --build "$NATIVE_BUILD" -j"$(nproc)" > "$NATIVE_BUILD/build.log" 2>&1; then
    grep -E 'error|Error' "$NATIVE_BUILD/build.log" >&2 || cat "$NATIVE_BUILD/build.log" >&2
    echo "native build failed (full log: $NATIVE_BUILD/build.log)" >&2
    exit 1
  fi
  mkdir -p "$NATIVE_OUT"
  cp -u "$NATIVE_BUILD/libhyprstream_native.so" "$NATIVE_OUT/"
  # The CUDA kernels as PTX (clang-14 or nvcc); loaded at run time by the CUDA backend.
  test -f "$NATIVE_BUILD/hyprstream_kernels.ptx" || { echo "PTX build failed (is clang-14 installed?)" >&2; exit 1; }
  cp -u "$NATIVE_BUILD/hyprstream_kernels.ptx" "$NATIVE_OUT/"
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

managed() {
  say "building .NET solution ($CONFIG)"
  dotnet build "$ROOT/Hyprstream.sln" -c "$CONFIG" -nologo -clp:ErrorsOnly -v:q
}

case "$MODE" in
  build) deps; native; managed ;;
  native) deps; native ;;
  test)
    deps; native; managed
    interop
    say "running tests"
    dotnet test "$ROOT/Hyprstream.sln" -c "$CONFIG" --no-build -nologo -v:q --logger "console;verbosity=normal" ${TEST_FILTER:+--filter "$TEST_FILTER"}
    ;;
  *) echo "usage: ./build.sh [build|test|native]" >&2; exit 2 ;;
esac
