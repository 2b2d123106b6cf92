#!/usr/bin/env bash
# Puts every shared library that libhyprstream_native.so needs beside it, so the folder runs on a Linux machine
# without Debian's OpenVDB/TBB/Blosc/Boost/Imath/zstd packages. The copies are unmodified: the shim carries
# DT_RPATH $ORIGIN (native/CMakeLists.txt), which the loader also applies to the dependencies of its dependencies
# when they carry no search path of their own, as Debian's do — both are checked here, so a build that breaks that
# (a RUNPATH on the shim, a library with its own RUNPATH) stops with the reason instead of loading from /usr/lib.
# Left out: the libraries in packaging/system-libraries.txt (glibc, and libstdc++/libgcc_s, which .NET itself needs).
# Also writes THIRD-PARTY-NOTICES.txt: each bundled library, the package it came from, and that package's copyright
# file (the licence texts). A library whose licence is not found is named there with NOTICE-MISSING, which
# `./build.sh pack` refuses.
#   packaging/bundle-native.sh BUILT_LIBRARY OUT_DIR
# BUILT_LIBRARY is the shim in the CMake build folder (its $ORIGIN holds no copies, so ldd names the originals);
# OUT_DIR already holds the copied shim. Copies only what differs; removes libraries no longer needed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shim=$1
out=$2

search_path() { readelf -d "$1" | sed -n "s/.*(\($2\)).*\[\(.*\)\]/\2/p"; }
if [ "$(search_path "$shim" RPATH)" != '$ORIGIN' ] || [ -n "$(search_path "$shim" RUNPATH)" ]; then
  echo "bundle-native: $shim must carry DT_RPATH \$ORIGIN and no RUNPATH (native/CMakeLists.txt links it with --disable-new-dtags)" >&2
  exit 1
fi

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
  if ! cmp -s "$src" "$out/$name"; then
    if [ -n "$(search_path "$src" RPATH)$(search_path "$src" RUNPATH)" ]; then
      echo "bundle-native: $src has its own search path, so the shim's RPATH would not reach its dependencies" >&2
      exit 1
    fi
    cp -fL "$src" "$out/$name"   # a new mtime, so the builds copy it on (PreserveNewest)
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
