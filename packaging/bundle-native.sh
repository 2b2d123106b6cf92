#!/usr/bin/env bash
# Puts every shared library that libhyprstream_native.so needs beside it, so the folder runs on a Linux machine
# without Debian's OpenVDB/TBB/Blosc/Boost/Imath/zstd packages: the shim's RUNPATH is $ORIGIN (native/CMakeLists.txt),
# and each copied library gets RUNPATH $ORIGIN too (patchelf), so their own dependencies resolve in the same folder.
# Left out: the libraries in packaging/system-libraries.txt (glibc, and libstdc++/libgcc_s, which .NET itself needs).
# Also writes THIRD-PARTY-NOTICES.txt: each bundled library, the package it came from, and that package's copyright
# file (the licence texts). A library whose licence is not found is named there with NOTICE-MISSING, which
# `./build.sh pack` refuses.
#   packaging/bundle-native.sh BUILT_LIBRARY OUT_DIR
# BUILT_LIBRARY is the shim in the CMake build folder (its $ORIGIN holds no copies, so ldd names the originals);
# OUT_DIR already holds the copied shim. Copies only what changed; removes libraries no longer needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shim=$1
out=$2
command -v patchelf >/dev/null || { echo "bundle-native: patchelf is missing (apt-get install patchelf)" >&2; exit 1; }

mapfile -t system < <(grep -v -e '^#' -e '^$' "$here/system-libraries.txt")
is_system() { local s; for s in "${system[@]}"; do [ "$1" = "$s" ] && return 0; done; return 1; }

# name -> path of every library in the closure (ldd resolves the whole tree, as the loader would).
declare -A found=()
closure() {
  local line name path
  while IFS= read -r line; do
    if [[ $line =~ ^[[:space:]]*([^[:space:]]+)\ =\>\ not\ found ]]; then
      echo "bundle-native: $1 needs ${BASH_REMATCH[1]}, which the loader does not find" >&2; exit 1
    fi
    [[ $line =~ ^[[:space:]]*([^[:space:]]+)\ =\>\ (/[^[:space:]]+) ]] || continue
    name=${BASH_REMATCH[1]}; path=${BASH_REMATCH[2]}
    is_system "$name" || found[$name]=$path
  done < <(ldd "$1")
}
closure "$shim"
# TBB loads its scalable allocator with dlopen from its own folder when it is there (ldd cannot see that).
if [ -n "${found[libtbb.so.12]:-}" ]; then
  malloc="$(dirname "${found[libtbb.so.12]}")/libtbbmalloc.so.2"
  if [ -e "$malloc" ]; then found[libtbbmalloc.so.2]=$malloc; closure "$malloc"; fi
fi

for name in "${!found[@]}"; do
  src=$(readlink -f "${found[$name]}")
  if [ ! -e "$out/$name" ] || [ "$src" -nt "$out/$name" ]; then
    cp -fL "$src" "$out/$name"
    chmod u+w "$out/$name"
    patchelf --set-rpath '$ORIGIN' "$out/$name"
  fi
done
# A library that is no longer needed must not linger (the shim would still find it through $ORIGIN).
for f in "$out"/lib*.so*; do
  name=$(basename "$f")
  [ "$name" = libhyprstream_native.so ] || [ -n "${found[$name]:-}" ] || rm -f "$f"
done

# Which package each library came from, and that package's copyright file.
notices="$out/THIRD-PARTY-NOTICES.txt"
{
  cat "$here/THIRD-PARTY-NOTICES.head.txt"
  for name in $(printf '%s\n' "${!found[@]}" | sort); do
    src=$(readlink -f "${found[$name]}")
    pkg=""
    if command -v dpkg-query >/dev/null; then
      for p in "$src" "${src/#\/lib\//\/usr\/lib\/}" "${found[$name]}" "${found[$name]/#\/lib\//\/usr\/lib\/}"; do
        pkg=$(dpkg-query -S "$p" 2>/dev/null | head -1 | cut -d: -f1) && [ -n "$pkg" ] && break
      done
    fi
    echo
    echo "================================================================================"
    if [ -n "$pkg" ] && [ -f "/usr/share/doc/$pkg/copyright" ]; then
      echo "$name — from the Debian package $pkg $(dpkg-query -W -f '${Version}' "$pkg" 2>/dev/null)"
      echo "================================================================================"
      cat "/usr/share/doc/$pkg/copyright"
    else
      echo "$name — from $src: NOTICE-MISSING (no Debian package owns it; add its licence before shipping)"
      echo "================================================================================"
    fi
  done
} > "$notices.tmp"
# Rewritten only when it changed, so an unchanged build copies nothing.
if cmp -s "$notices.tmp" "$notices"; then rm -f "$notices.tmp"; else mv "$notices.tmp" "$notices"; fi
echo "bundled beside the shim: $(printf '%s\n' "${!found[@]}" | sort | tr '\n' ' ')"
