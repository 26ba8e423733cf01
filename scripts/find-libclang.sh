#!/usr/bin/env bash
# Prints the path of a libclang that bindgen (through clang-sys) can load, and
# exits 1 when there is none. Searches $LIBCLANG_PATH first, then the given
# directories (default: the usual system ones).
#
# A candidate is named like one clang-sys loads (libclang.so, libclang.so.<ver>,
# libclang-<ver>.so, libclang-<ver>.so.<ver>) and exports clang_createIndex.
# libclang-cpp.so.<ver>, which Debian installs with LLVM, is the C++ interface:
# it matches the name pattern libclang* but bindgen cannot use it.
set -uo pipefail

dirs=("$@")
if [ ${#dirs[@]} -eq 0 ]; then
  dirs=(/usr/lib/llvm-*/lib /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib)
fi
[ -n "${LIBCLANG_PATH:-}" ] && dirs=("$LIBCLANG_PATH" "${dirs[@]}")

exports_create_index() {
  if command -v nm >/dev/null 2>&1; then
    nm -D --defined-only "$1" 2>/dev/null | grep -qw clang_createIndex
  else
    grep -qa clang_createIndex "$1"
  fi
}

for d in "${dirs[@]}"; do
  [ -d "$d" ] || continue
  for f in "$d"/libclang.so "$d"/libclang.so.* "$d"/libclang-*.so "$d"/libclang-*.so.*; do
    [ -e "$f" ] || continue
    case "$(basename "$f")" in libclang-cpp*) continue ;; esac
    if exports_create_index "$f"; then
      echo "$f"
      exit 0
    fi
  done
done
exit 1
