#!/usr/bin/env bash
# Tumbling, sliding and session windows on Apache Flink 2.3 (the peer in
# ../shared/peers/flink, driven by benches/flink_windows.py) and on weir
# (`cargo bench --bench windows`), each backend, in one run. See
# benches/README.md.
#
# Same stream on both (the peer's `seq` source, weir's generator): key
# (i * 2654435761) mod K, 1M events per second of event time, parallelism
# 2, a checkpoint every 10 s, output discarded.
#   tumbling  1 s windows, K = 10,000
#   sliding   10 s windows every 1 s, K = 10,000
#   session   50 ms gap, K = 100,000 (every event a session of its own)
#
# Environment:
#   FLINK_EVENTS=20M        N of Flink's tumbling and sliding runs (sessions: a tenth)
#   WEIR_BENCH_EVENTS=100M  N of weir's tumbling and sliding runs (sessions: a tenth)
#   FLINK_DIR, FLINK_VENV   the peer and its virtual env (installed by its setup.sh)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FLINK_DIR="${FLINK_DIR:-$ROOT/../shared/peers/flink}"
FLINK_VENV="${FLINK_VENV:-$HOME/.cache/weir-peers/flink-venv}"
FLINK_EVENTS="${FLINK_EVENTS:-20M}"
export FLINK_DIR WEIR_BENCH_EVENTS="${WEIR_BENCH_EVENTS:-100M}"

"$FLINK_DIR/setup.sh" >/dev/null
tenth() { python3 -c "import sys; s=sys.argv[1]; m={'k':10**3,'M':10**6,'G':10**9}; n=int(s[:-1])*m[s[-1]] if s[-1] in m else int(s); print(n//10)" "$1"; }

flink() { # job keys events backend extra...
  local job="$1" keys="$2" events="$3" backend="$4"; shift 4
  JVM_ARGS="-Xmx${JVM_HEAP:-6g}" FLINK_LOG_DIR="$(mktemp -d /tmp/flink-bench-log.XXXXXX)" BENCH_T0="$(date +%s.%N)" \
    "$FLINK_VENV/bin/python" "$ROOT/benches/flink_windows.py" --job "$job" --keys "$keys" --events "$events" \
    --backend "$backend" --parallelism 2 --checkpoint-interval 10s "$@" 2>/dev/null |
    grep '^result' | tr ' ' '\n' | grep -E '^(events|status|seconds|events_per_sec|events_per_sec_jm|load1_end)=' | paste -sd' ' |
    sed "s/^/flink $job $backend /"
}

echo "== Flink 2.3"
for backend in hashmap rocksdb; do
  flink windowed_count 10000 "$FLINK_EVENTS" "$backend"
  flink sliding_count 10000 "$FLINK_EVENTS" "$backend" --size-ms 10000 --slide-ms 1000
  flink session_count 100000 "$(tenth "$FLINK_EVENTS")" "$backend" --gap-ms 50
done
echo "== weir"
cd "$ROOT" && cargo bench --bench windows 2>/dev/null | grep -v '^$'
