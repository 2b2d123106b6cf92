#!/usr/bin/env bash
# GPU self-test and benchmark for a host that has the NVIDIA driver (and maybe nvcc) but no .NET, no OpenVDB and no
# network. Two steps:
#
#   tests/gpu/run.sh bundle [OUT.tar.xz]     on the build machine (after ./build.sh): a self-contained, trimmed,
#                                            single-file `hyprstream`, libhyprstream_native.so and its non-glibc
#                                            dependencies, the kernels (the fatbin: SASS for sm_80/sm_90, built where
#                                            this machine has a working nvcc; clang's PTX; nvcc's PTX), and the kernel
#                                            sources + NanoVDB headers (so a host with nvcc can also build the PTX its
#                                            own way). Default OUT: .artifacts/gpu-bundle.tar.xz (~25 MB).
#   tests/gpu/run.sh device [BUNDLE.tar.xz]  on the GPU host: prints the machine (glibc, nvidia-smi, nvcc), checks the
#                                            bundle's glibc requirement, unpacks, runs `hyprstream selftest --device
#                                            cuda` (every kernel against the CPU backend / dense reference) with the
#                                            kernels as shipped (the fatbin, else the PTX), then with each shipped PTX
#                                            alone (JIT) and, where nvcc exists, with a PTX built there, then
#                                            `hyprstream bench apply --device cuda` and `--device cpu`. Needs only
#                                            the NVIDIA driver. Logs go to $OUT (if set) or ./gpu-results.
#
# With the session's device tool: run `tests/gpu/run.sh bundle` here, then call the tool with
#   command: tests/gpu/run.sh device .artifacts/gpu-bundle.tar.xz      carry: [".artifacts/gpu-bundle.tar.xz"]
# (the carry limit is 64 MiB; .artifacts/ is git-ignored, so it must be named in carry).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODE=${1:-}

say() { printf '==> %s\n' "$*"; }

max_glibc() {  # highest GLIBC_x.y symbol version any of the given files needs
  for f in "$@"; do objdump -T "$f" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' || true; done | sed 's/GLIBC_//' | sort -uV | tail -1
}

bundle() {
  local out=${1:-$ROOT/.artifacts/gpu-bundle.tar.xz}
  local stage=$ROOT/build/gpu-bundle/hyprstream-gpu
  "$ROOT/build.sh"
  rm -rf "$stage" && mkdir -p "$stage/lib/cxx" "$stage/src/kernels" "$stage/include"
  say "publishing a self-contained, trimmed, single-file hyprstream (linux-x64)"
  dotnet publish "$ROOT/src/Hyprstream.Server/Hyprstream.Server.csproj" -c Release -r linux-x64 --self-contained \
    -p:PublishSingleFile=true -p:PublishTrimmed=true -p:TrimMode=partial -p:JsonSerializerIsReflectionEnabledByDefault=true \
    -p:EnableCompressionInSingleFile=true -p:InvariantGlobalization=true -p:DebugType=none \
    -o "$ROOT/build/gpu-bundle/publish" -nologo -v:q -clp:ErrorsOnly
  cp "$ROOT/build/gpu-bundle/publish/hyprstream" "$stage/"
  cp "$ROOT/.artifacts/native/libhyprstream_native.so" "$ROOT/.artifacts/native/hyprstream_kernels.ptx" "$stage/lib/"
  # The fatbin and nvcc's PTX exist where ./build.sh found a working nvcc; without them the GPU JIT-compiles the PTX.
  local k
  for k in hyprstream_kernels.fatbin hyprstream_kernels.nvcc.ptx; do
    if [ -f "$ROOT/.artifacts/native/$k" ]; then cp "$ROOT/.artifacts/native/$k" "$stage/lib/"; fi
  done
  if [ ! -f "$stage/lib/hyprstream_kernels.fatbin" ]; then
    echo "warning: no fatbin (no working nvcc on this machine: see build/native/configure.log); the bundle carries PTX only" >&2
  fi
  # Every shared library the shim loads, except glibc's own (the host's glibc must be used).
  ldd "$ROOT/.artifacts/native/libhyprstream_native.so" | awk '/=> \//{print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*) ;;
      # Debian 12's libstdc++ needs glibc 2.36; kept apart and used only where the host's own is too old.
      libstdc++.so*|libgcc_s.so*) cp -L "$lib" "$stage/lib/cxx/" ;;
      *) cp -L "$lib" "$stage/lib/" ;;
    esac
  done
  cp "$ROOT/native/kernels/"*.cu "$ROOT/native/kernels/"*.h "$stage/src/kernels/"
  cp -r /usr/include/nanovdb "$stage/include/"
  max_glibc "$stage/hyprstream" "$stage"/lib/*.so* > "$stage/REQUIRES_GLIBC"
  max_glibc "$stage"/lib/cxx/*.so* > "$stage/REQUIRES_GLIBC_CXX"
  for f in "$stage"/lib/*.so*; do objdump -T "$f" 2>/dev/null | grep -o 'GLIBCXX_[0-9][0-9.]*' || true; done | sort -uV | tail -1 > "$stage/REQUIRES_GLIBCXX"
  git -C "$ROOT" rev-parse --short HEAD > "$stage/COMMIT" 2>/dev/null || echo unknown > "$stage/COMMIT"
  say "self-check of the bundle on this machine (CPU backend)"
  LD_LIBRARY_PATH="$stage/lib:$stage/lib/cxx" HYPRSTREAM_NATIVE_DIR="$stage/lib" "$stage/hyprstream" selftest --device cpu | tail -1
  mkdir -p "$(dirname "$out")"
  tar -C "$(dirname "$stage")" -cJf "$out" "$(basename "$stage")"
  say "bundle: $out ($(du -h "$out" | cut -f1)), needs glibc >= $(cat "$stage/REQUIRES_GLIBC"); kernels: $(cd "$stage/lib" && echo hyprstream_kernels.*)"
}

device() {
  local tarball=${1:-$ROOT/.artifacts/gpu-bundle.tar.xz}
  local results=${OUT:-$PWD/gpu-results}
  mkdir -p "$results"
  exec > >(tee "$results/run.log") 2>&1
  say "machine"
  uname -a
  ldd --version | head -1 || true
  nvidia-smi || { echo "nvidia-smi failed: no usable NVIDIA driver here" >&2; exit 3; }
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv || true
  command -v nvcc >/dev/null && nvcc --version | tail -2 || echo "nvcc: not installed"
  [ -f "$tarball" ] || { echo "bundle $tarball not found: run 'tests/gpu/run.sh bundle' on the build machine and carry it" >&2; exit 2; }
  local work; work=$(mktemp -d)
  tar -C "$work" -xJf "$tarball"
  local b=$work/hyprstream-gpu
  local need have
  need=$(cat "$b/REQUIRES_GLIBC"); have=$(ldd --version | head -1 | grep -o '[0-9]\+\.[0-9]\+$' || echo 0)
  if [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
    echo "this host has glibc $have but the bundle needs >= $need" >&2; exit 4
  fi
  say "bundle from commit $(cat "$b/COMMIT"), glibc $have >= $need"
  # C++ runtime: the host's if it has the symbol version our libraries need, else ours (needs a newer glibc).
  local libdirs="$b/lib" cxx hostcxx
  cxx=$(cat "$b/REQUIRES_GLIBCXX")
  hostcxx=$( (ldconfig -p 2>/dev/null | awk '/libstdc\+\+\.so\.6 .*x86-64/{print $NF; exit}') || true)
  if [ -n "$hostcxx" ] && grep -qa "$cxx" "$hostcxx"; then
    say "using the host's C++ runtime $hostcxx ($cxx)"
  else
    local needcxx; needcxx=$(cat "$b/REQUIRES_GLIBC_CXX")
    if [ "$(printf '%s\n%s\n' "$needcxx" "$have" | sort -V | head -1)" != "$needcxx" ]; then
      echo "the host's libstdc++ lacks $cxx and the bundled one needs glibc >= $needcxx (host: $have)" >&2; exit 4
    fi
    libdirs="$libdirs:$b/lib/cxx"
    say "using the bundled C++ runtime"
  fi
  export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" HYPRSTREAM_NATIVE_DIR="$b/lib" DOTNET_BUNDLE_EXTRACT_BASE_DIR="$work/.net"
  local rc=0
  "$b/hyprstream" version
  say "selftest, kernels as shipped (the fatbin where bundled, else the PTX; the first line names the one loaded)"
  "$b/hyprstream" selftest --device cuda | tee "$results/selftest.txt" || rc=1
  say "selftest, clang's PTX alone (JIT-compiled by the driver: the fallback)"
  HYPRSTREAM_PTX="$b/lib/hyprstream_kernels.ptx" "$b/hyprstream" selftest --device cuda | tee "$results/selftest-clang.txt" || rc=1
  if [ -f "$b/lib/hyprstream_kernels.nvcc.ptx" ]; then
    say "selftest, nvcc's PTX alone (the one inside the fatbin, JIT-compiled)"
    HYPRSTREAM_PTX="$b/lib/hyprstream_kernels.nvcc.ptx" "$b/hyprstream" selftest --device cuda | tee "$results/selftest-nvcc-ptx.txt" || rc=1
  fi
  if command -v nvcc >/dev/null; then
    local cc; cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
    say "building the PTX with nvcc for compute_${cc}"
    if nvcc -ptx -arch="compute_${cc}" -std=c++17 -O3 -DNDEBUG -I"$b/include" "$b/src/kernels/apply.cu" -o "$work/nvcc.ptx"; then
      say "selftest, PTX built here by nvcc"
      HYPRSTREAM_PTX="$work/nvcc.ptx" "$b/hyprstream" selftest --device cuda | tee "$results/selftest-nvcc-here.txt" || rc=1
    else
      echo "nvcc could not build the kernels" >&2; rc=1
    fi
  fi
  say "bench apply --device cuda (kernels as shipped)"
  "$b/hyprstream" bench apply --device cuda | tee "$results/bench-cuda.txt" || rc=1
  say "bench apply --device cpu (same host, for comparison)"
  "$b/hyprstream" bench apply --device cpu | tee "$results/bench-cpu.txt" || rc=1
  say "done (exit $rc); logs in $results"
  return $rc
}

case "$MODE" in
  bundle) shift; bundle "$@" ;;
  device) shift; device "$@" ;;
  *) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
