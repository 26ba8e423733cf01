#!/usr/bin/env bash
# Runs the RocksDB jobs on Apache Flink 2.3 (the peer in ../shared/peers/flink)
# and on weir, one after the other, with the same parameters, and prints a
# comparison table. See benches/README.md.
#
# Usage: benches/side_by_side_rocksdb.sh [window] [large]   (no argument: both)
#
#   window  windowed_count, N = 15M events, K = 1M keys, event rate 1M/s, 1 s
#           windows (every window holds every key once), RocksDB with
#           incremental checkpoints every 2 s. weir: the windowed_count bench
#           with WEIR_BENCH_BACKEND=rocksdb.
#   large   a running count per key over N = K = 10M events (every key once):
#           Flink's large_state job; weir: keyed_totals --value-bytes 24 (the
#           keyed_totals bench's large_state part). RocksDB, incremental
#           checkpoints every 2 s.
#
# Both engines: parallelism 2, output discarded, 512 MiB for RocksDB (Flink's
# managed memory, weir's --state-memory default). Flink runs once per case,
# weir WEIR_BENCH_REPEATS times (3).
#
# Environment: WINDOW_EVENTS=15M, LARGE_KEYS=10M, WEIR_BENCH_REPEATS=3,
# FLINK_DIR, LOCK_FILE, MAX_LOAD, MAX_LOAD_WAIT_S, OUT as in side_by_side.sh.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FLINK_DIR="${FLINK_DIR:-$ROOT/../shared/peers/flink}"
export WEIR_BENCH_REPEATS="${WEIR_BENCH_REPEATS:-3}"
export LOCK_FILE="${LOCK_FILE-/tmp/weir-bench.lock}"
export MAX_LOAD="${MAX_LOAD:-1.0}"
export MAX_LOAD_WAIT_S="${MAX_LOAD_WAIT_S:-300}"
OUT="${OUT:-$ROOT/target/side-by-side/side_by_side_rocksdb-$(date +%Y%m%dT%H%M%S).txt}"
mkdir -p "$(dirname "$OUT")"
: > "$OUT"
exec > >(tee -a "$OUT") 2>&1

# shellcheck source=benches/side_by_side_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/side_by_side_lib.sh"

CASES=()
for a in "$@"; do
  case "$a" in window | large) CASES+=("$a") ;; *) echo "side_by_side_rocksdb: unknown case '$a' (window, large)" >&2; exit 2 ;; esac
done
[ "${#CASES[@]}" -gt 0 ] || CASES=(window large)
WINDOW_EVENTS="$(to_count "${WINDOW_EVENTS:-15M}")"
LARGE_KEYS="$(to_count "${LARGE_KEYS:-10M}")"

echo "side_by_side_rocksdb start=$(date -Is) host=$(hostname) cores=$(nproc) cases=${CASES[*]} window_events=$WINDOW_EVENTS large_keys=$LARGE_KEYS weir_repeats=$WEIR_BENCH_REPEATS out=$OUT"
"$FLINK_DIR/setup.sh"
cd "$ROOT"
WINDOW_EXE="$(bench_exe windowed_count)"
TOTALS_EXE="$(bench_exe keyed_totals)"
[ -x "$WINDOW_EXE" ] && [ -x "$TOTALS_EXE" ] || { echo "side_by_side_rocksdb: could not build the benches" >&2; exit 1; }
echo "weir commit=$(git rev-parse --short HEAD 2>/dev/null || echo none) dirty=$(git status --porcelain 2>/dev/null | grep -c . || true)"

declare -A FLINK WEIR DESC
for c in "${CASES[@]}"; do
  echo
  flink_out="$(mktemp)"
  weir_out="$(mktemp)"
  if [ "$c" = window ]; then
    DESC[$c]="windowed_count N=$WINDOW_EVENTS K=1M"
    echo "=== case window: ${DESC[$c]} P=2 event_rate=1M window=1s rocksdb incremental checkpoint_interval=2s"
    echo "--- flink"; load_note
    JOB=windowed_count SOURCE=seq EVENTS="$WINDOW_EVENTS" KEYS=1000000 EVENT_RATE=1000000 WINDOW_MS=1000 \
      BACKEND=rocksdb INCREMENTAL=true CHECKPOINT_INTERVAL=2s PARALLELISM=2 \
      "$FLINK_DIR/run.sh" 2>&1 | tee "$flink_out" || true
    echo "--- weir"; load_note
    WEIR_BENCH_BACKEND=rocksdb WEIR_BENCH_EVENTS_1M="$WINDOW_EVENTS" WEIR_BENCH_CHECKPOINT_INTERVAL=2s \
      locked "$WINDOW_EXE" 1m 2>&1 | tee "$weir_out" || true
    WEIR[$c]="$(field median_events_per_sec "$(grep '^bench=windowed_count keys=1000000 events=' "$weir_out" | tail -1 || true)")"
  else
    DESC[$c]="running count N=K=$LARGE_KEYS"
    echo "=== case large: ${DESC[$c]} P=2 rocksdb incremental checkpoint_interval=2s"
    echo "--- flink"; load_note
    JOB=large_state EVENTS="$LARGE_KEYS" KEYS="$LARGE_KEYS" BACKEND=rocksdb INCREMENTAL=true CHECKPOINT_INTERVAL=2s \
      PARALLELISM=2 "$FLINK_DIR/run.sh" 2>&1 | tee "$flink_out" || true
    echo "--- weir"; load_note
    WEIR_BENCH_LARGE_KEYS="$LARGE_KEYS" locked "$TOTALS_EXE" large_state 2>&1 | tee "$weir_out" || true
    WEIR[$c]="$(field median_events_per_sec "$(grep '^bench=keyed_totals large_state keys=' "$weir_out" | tail -1 || true)")"
  fi
  FLINK[$c]="$(field events_per_sec_jm "$(grep '^result ' "$flink_out" | tail -1 || true)")"
  rm -f "$flink_out" "$weir_out"
  load_note
done

echo
echo "=== RocksDB side by side ($(date -I), $(nproc) cores, P=2, incremental checkpoints every 2 s)"
fmt="| %-6s | %-30s | %16s | %19s | %10s |\n"
printf "$fmt" case job "Flink ev/s (JM)" "weir ev/s (median)" "weir/Flink"
printf "$fmt" ------ ------------------------------ ---------------- ------------------- ----------
for c in "${CASES[@]}"; do
  printf "$fmt" "$c" "${DESC[$c]}" "$(num "${FLINK[$c]}")" "$(num "${WEIR[$c]}")" "$(ratio "${WEIR[$c]}" "${FLINK[$c]}")"
done
echo "side_by_side_rocksdb end=$(date -Is) out=$OUT"
