#!/usr/bin/env bash
# Assembles the kernels' PTX with NVIDIA's ptxas for the GPUs we ship SASS for, and prints what each kernel costs.
#
#   native/kernels/check_ptx.sh [PTX...]
#
# Each PTX file is assembled for sm_80 (A100) and sm_90 (H100/H200) (ARCHS="sm_80 sm_90" to change) with
# `ptxas -O3 -v --warn-on-spills --warning-as-error`. Fails on any ptxas error or warning, any spilled byte, or an
# entry point of the PTX that ptxas did not report. Prints one row per kernel: registers per thread for each
# (compiler, arch), from ptxas -v; the raw ptxas output goes to build/native/ptxas/ (LOGDIR to change).
# Default PTX: build/native/hyprstream_kernels.ptx (clang) and build/native/hyprstream_kernels.nvcc.ptx (nvcc),
# both required (./build.sh with a CUDA toolkit installed builds both).
# PTXAS_FLAGS: more ptxas options (e.g. --maxrregcount 16, which forces spills: the check must then fail).
# ptxas: $PTXAS, else ptxas on PATH, $CUDA_HOME/bin, /usr/local/cuda/bin, /usr/lib/nvidia-cuda-toolkit/bin.
# Exit status: 0 all good, 1 a check failed, 2 a PTX file is missing, 3 no ptxas here.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ARCHS=${ARCHS:-sm_80 sm_90}
LOGDIR=${LOGDIR:-$ROOT/build/native/ptxas}

ptxas=${PTXAS:-}
if [ -z "$ptxas" ]; then
  for p in "$(command -v ptxas || true)" "${CUDA_HOME:-/nonexistent}/bin/ptxas" /usr/local/cuda/bin/ptxas /usr/lib/nvidia-cuda-toolkit/bin/ptxas; do
    [ -n "$p" ] && [ -x "$p" ] && { ptxas=$p; break; }
  done
fi
[ -n "$ptxas" ] && [ -x "$ptxas" ] || { echo "check_ptx: ptxas not found (install a CUDA toolkit, e.g. Debian's nvidia-cuda-toolkit, or set PTXAS)" >&2; exit 3; }

files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$ROOT/build/native/hyprstream_kernels.ptx" "$ROOT/build/native/hyprstream_kernels.nvcc.ptx")
for f in "${files[@]}"; do [ -f "$f" ] || { echo "check_ptx: $f not found (run ./build.sh; the nvcc PTX needs a CUDA toolkit)" >&2; exit 2; }; done

mkdir -p "$LOGDIR"
table=$(mktemp); trap 'rm -f "$table" "$table.cubin"' EXIT
echo "ptxas: $ptxas ($("$ptxas" --version | grep -o 'release [0-9.]*' || echo 'version unknown'))"
fail=0 labels=()
for f in "${files[@]}"; do
  # Which compiler wrote it (the header comment), else the file's name.
  if grep -q 'LLVM NVPTX' "$f"; then label=clang; elif grep -q 'NVIDIA NVVM' "$f"; then label=nvcc; else label=$(basename "$f" .ptx); fi
  for l in "${labels[@]:-}"; do [ "$l" = "$label" ] && label=$(basename "$f" .ptx); done
  labels+=("$label")
  entries=$(grep -oE '^\.visible \.entry [A-Za-z_0-9]+' "$f" | awk '{print $3}' | sort)
  [ -n "$entries" ] || { echo "check_ptx: $f has no .entry" >&2; fail=1; continue; }
  for arch in $ARCHS; do
    log="$LOGDIR/$label-$arch.txt"
    if ! "$ptxas" -arch="$arch" -O3 -v --warn-on-spills --warning-as-error ${PTXAS_FLAGS:-} "$f" -o "$table.cubin" > "$log" 2>&1; then
      echo "check_ptx: ptxas failed on $f for $arch:" >&2; grep -E 'error|fatal|warning' "$log" >&2 || cat "$log" >&2; fail=1; continue
    fi
    # "Compiling entry function 'K' for 'sm_80'" ... "N bytes stack frame, S bytes spill stores, L bytes spill loads" ... "Used R registers"
    awk -v label="$label" -v arch="$arch" '
      /Compiling entry function/ { split($0, q, "\047"); k = q[2]; next }
      k != "" && /bytes stack frame/ { stack = $1; st = $5; ld = $9; next }
      k != "" && /Used [0-9]+ registers/ { for (i = 1; i <= NF; i++) if ($i == "Used") r = $(i + 1);
                                          print label, arch, k, r, stack, st, ld; k = "" }' "$log" >> "$table"
    got=$(awk -v label="$label" -v arch="$arch" '$1 == label && $2 == arch {print $3}' "$table" | sort)
    if [ "$got" != "$entries" ]; then
      echo "check_ptx: ptxas reported other kernels than $f declares for $arch:" >&2
      diff <(echo "$entries") <(echo "$got") >&2 || true; fail=1
    fi
  done
done

# One row per kernel, one column per (compiler, arch): registers per thread; "+N B stack" where there is a frame.
awk '
  { key = $1 " " $2; if (!(key in seen)) { seen[key] = 1; cols[++nc] = key }
    if (!($3 in row)) { row[$3] = 1; kernels[++nk] = $3 }
    cell[$3, key] = $4 ($5 > 0 ? "+" $5 "B stack" : ""); spill += $6 + $7; if ($6 + $7 > 0) bad[$3 " " key] = $6 "/" $7 }
  END {
    printf "%-26s", "registers per thread"; for (c = 1; c <= nc; c++) printf " %12s", cols[c]; printf "\n"
    for (k = 1; k <= nk; k++) { printf "%-26s", kernels[k]; for (c = 1; c <= nc; c++) printf " %12s", cell[kernels[k], cols[c]]; printf "\n" }
    printf "%d kernels x %d assemblies, %d bytes spilled\n", nk, nc, spill
    for (b in bad) printf "SPILL %s (stores/loads bytes %s)\n", b, bad[b]
    exit spill > 0 }' "$table" || fail=1
echo "raw ptxas -v output: $LOGDIR"
[ $fail -eq 0 ] && echo "check_ptx: OK" || echo "check_ptx: FAILED" >&2
exit $fail
