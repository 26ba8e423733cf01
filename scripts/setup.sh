#!/usr/bin/env bash
# Installs what building weir needs besides a Rust toolchain: libclang, for
# the bindings of RocksDB (the `rocksdb` crate builds RocksDB from source),
# and sccache, which CI uses to cache compiled C++ outside the clone.
# Idempotent and quick once both are there.
set -euo pipefail

need=()
# Only a libclang that bindgen can load counts: Debian's LLVM brings
# libclang-cpp.so, which is not one (scripts/find-libclang.sh says why).
here=$(cd "$(dirname "$0")" && pwd)
"$here/find-libclang.sh" >/dev/null || need+=(libclang-dev)
command -v sccache >/dev/null 2>&1 || need+=(sccache)
[ ${#need[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${need[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "setup: please install ${need[*]} (libclang is needed to build RocksDB's bindings)" >&2
  exit 1
fi
