#!/usr/bin/env bash
# Installs what building and testing weir needs besides a Rust toolchain:
# - libclang, for the bindings of RocksDB (the `rocksdb` crate builds RocksDB
#   from source);
# - sccache, which CI uses to cache compiled C++ outside the clone;
# - chromium (with chromium-common, its own dependency) and fonts-liberation,
#   in which the tests load and screenshot the job page (headless);
# - moto's S3 server (`moto_server`, from PyPI), which the tests of the `s3`
#   feature start on a loopback port. It goes into a virtualenv outside the
#   clone, $WEIR_MOTO_VENV (default ~/.cache/weir/moto-venv), so that a fresh
#   clone on the same machine reuses it; the tests look for it there;
# - a Kafka broker's jars (from Maven Central, with java and maven when they
#   are missing), which the tests of the `kafka` feature start through
#   scripts/kafka.sh; they go outside the clone too, into
#   ~/.cache/weir/kafka-<version>/libs.
# Idempotent and quick once everything is there.
set -euo pipefail

# The moto release line the tests are written against.
moto_requirement='moto[server]>=5.1,<6'
moto_venv="${WEIR_MOTO_VENV:-$HOME/.cache/weir/moto-venv}"

apt_install() {
  if command -v apt-get >/dev/null 2>&1; then
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing $*" >&2
    $sudo apt-get update -qq
    # Without recommends: chromium's would bring a printing and desktop stack
    # (system-config-printer, python3-cups, ...) that nothing here uses.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "setup: please install $* (libclang builds RocksDB's bindings; python3 with venv runs the S3 test server)" >&2
    exit 1
  fi
}

need=()
# Only a libclang that bindgen can load counts: Debian's LLVM brings
# libclang-cpp.so, which is not one (scripts/find-libclang.sh says why).
here=$(cd "$(dirname "$0")" && pwd)
"$here/find-libclang.sh" >/dev/null || need+=(libclang-dev)
command -v sccache >/dev/null 2>&1 || need+=(sccache)
# The job page's test loads it in headless Chromium.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The page's screenshot needs a font; chromium only recommends one.
[ -d /usr/share/fonts/truetype/liberation ] || need+=(fonts-liberation)

# moto is installed once per requirement: the marker file records which.
moto_ready() {
  [ -x "$moto_venv/bin/moto_server" ] && [ "$(cat "$moto_venv/.weir-requirement" 2>/dev/null)" = "$moto_requirement" ]
}
if ! moto_ready; then
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  # Debian's python3 has no `venv` (nor ensurepip) without python3-venv.
  if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need+=(python3-venv); fi
fi

[ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"

if ! moto_ready; then
  echo "setup: installing $moto_requirement into $moto_venv" >&2
  rm -rf "$moto_venv"
  mkdir -p "$(dirname "$moto_venv")"
  python3 -m venv "$moto_venv"
  "$moto_venv/bin/python" -m pip install -q --disable-pip-version-check "$moto_requirement"
  "$moto_venv/bin/moto_server" --help >/dev/null
  echo "$moto_requirement" >"$moto_venv/.weir-requirement"
fi

# Idempotent on its own: a marker file says the jars are complete.
"$here/kafka.sh" fetch >/dev/null
