#!/usr/bin/env bash
# Runs the windowed_count job on Apache Flink 2.3 (the peer in
# ../shared/peers/flink) and on weir, case by case, with identical
# parameters, and prints a comparison table. See benches/README.md.
#
# Usage: benches/side_by_side.sh [10k] [1m]      (no argument: both cases)
#
# Per case: Flink first (one run through the peer's run.sh), then weir's
# bench (`windowed_count` bench binary, WEIR_BENCH_REPEATS runs). Same N, K,
# parallelism 2, event rate 1M events per event-time second, 1 s tumbling
# windows, hashmap backend, a checkpoint every 10 s, output discarded.
#
# Environment:
#   WEIR_BENCH_EVENTS_10K=700M  WEIR_BENCH_EVENTS_1M=81M   N per case (k/M/G suffixes)
#   WEIR_BENCH_REPEATS=3        weir runs per case (Flink runs once)
#   FLINK_DIR=../shared/peers/flink (beside the repository)
#   LOCK_FILE=/tmp/weir-bench.lock  taken around every measured run (the peer's
#                               suite.sh uses the same file); LOCK_FILE= disables it
#   MAX_LOAD=1.0                before each measured run (Flink and weir), wait until
#                               the 1-min load average is below this; none = no wait
#   MAX_LOAD_WAIT_S=300         give up waiting after this long (and run anyway)
#   OUT=target/side-by-side/side_by_side-<time>.txt   copy of everything printed
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FLINK_DIR="${FLINK_DIR:-$ROOT/../shared/peers/flink}"
PARALLELISM=2
EVENT_RATE=1000000
CHECKPOINT_INTERVAL=10s
export WEIR_BENCH_REPEATS="${WEIR_BENCH_REPEATS:-3}"
export LOCK_FILE="${LOCK_FILE-/tmp/weir-bench.lock}"
export MAX_LOAD="${MAX_LOAD:-1.0}"
export MAX_LOAD_WAIT_S="${MAX_LOAD_WAIT_S:-300}"
OUT="${OUT:-$ROOT/target/side-by-side/side_by_side-$(date +%Y%m%dT%H%M%S).txt}"
mkdir -p "$(dirname "$OUT")"
: > "$OUT"

# Everything printed goes to the terminal and to $OUT.
exec > >(tee -a "$OUT") 2>&1

# shellcheck source=benches/side_by_side_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/side_by_side_lib.sh"

case_keys() { case "$1" in 10k) echo 10000 ;; 1m) echo 1000000 ;; *) return 1 ;; esac; }

CASES=()
for a in "$@"; do
  a="$(tr '[:upper:]' '[:lower:]' <<<"$a")"
  case_keys "$a" >/dev/null || { echo "side_by_side: unknown case '$a' (10k, 1m)" >&2; exit 2; }
  CASES+=("$a")
done
[ "${#CASES[@]}" -gt 0 ] || CASES=(10k 1m)

EVENTS_10K="$(to_count "${WEIR_BENCH_EVENTS_10K:-700M}")"
EVENTS_1M="$(to_count "${WEIR_BENCH_EVENTS_1M:-81M}")"

echo "side_by_side start=$(date -Is) host=$(hostname) cores=$(nproc) cases=${CASES[*]} events_10k=$EVENTS_10K events_1m=$EVENTS_1M weir_repeats=$WEIR_BENCH_REPEATS max_load=$MAX_LOAD lock_file=${LOCK_FILE:-none} out=$OUT"

# 1. Flink present (idempotent).
"$FLINK_DIR/setup.sh"

# 2. Our bench, built in release (the bench profile); run the binary directly
#    so that both cases use the same build even if sources change meanwhile.
cd "$ROOT"
BENCH_EXE="$(bench_exe windowed_count)"
[ -x "$BENCH_EXE" ] || { echo "side_by_side: could not build the windowed_count bench" >&2; exit 1; }
echo "weir bench_exe=$BENCH_EXE commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none) dirty=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -c . || true)"

declare -A FLINK_JM FLINK_WALL FLINK_CKPT FLINK_OTHER WEIR_MED WEIR_BEST WEIR_RUNS NS
for c in "${CASES[@]}"; do
  keys="$(case_keys "$c")"
  if [ "$c" = 10k ]; then n="$EVENTS_10K"; else n="$EVENTS_1M"; fi
  NS[$c]="$n"
  echo
  echo "=== case $c: N=$n K=$keys P=$PARALLELISM event_rate=$EVENT_RATE window=1s backend=hashmap checkpoint_interval=$CHECKPOINT_INTERVAL"
  if [ $((n % EVENT_RATE)) -ne 0 ]; then
    echo "warning: N is not a multiple of the event rate: the last window is partial"
  fi

  # --- Flink (run.sh takes $LOCK_FILE and waits for the load itself)
  echo "--- flink"
  load_note
  flink_out="$(mktemp)"
  set +e
  JOB=windowed_count SOURCE=seq EVENTS="$n" KEYS="$keys" EVENT_RATE="$EVENT_RATE" WINDOW_MS=1000 \
    BACKEND=hashmap CHECKPOINT_INTERVAL="$CHECKPOINT_INTERVAL" PARALLELISM="$PARALLELISM" \
    "$FLINK_DIR/run.sh" 2>&1 | tee "$flink_out"
  flink_rc=${PIPESTATUS[0]}
  set -e
  res="$(grep '^result ' "$flink_out" | tail -1 || true)"
  cfg="$(grep '^config ' "$flink_out" | tail -1 || true)"
  cks="$(grep '^checkpoint_summary ' "$flink_out" | tail -1 || true)"
  rm -f "$flink_out"
  status="$(field status "$res")"
  if [ "$flink_rc" -ne 0 ] || [ "$status" != FINISHED ]; then
    echo "warning: flink run failed (rc=$flink_rc status=${status:-none})"
  fi
  FLINK_JM[$c]="$(field events_per_sec_jm "$res")"
  FLINK_WALL[$c]="$(field events_per_sec "$res")"
  FLINK_OTHER[$c]="$(field cpu_other_s "$res")"
  ck_rest="$(field completed_rest "$cks")"; ck_log="$(field completed_log "$cks")"
  FLINK_CKPT[$c]="${ck_rest:-?}/${ck_log:-?}"
  # The two engines see the same windows only if Flink's seq splits cover the
  # same keys per window as weir's contiguous R events (min(K, R) keys).
  kpw="$(field keys_per_window "$cfg")"
  want=$(( keys < EVENT_RATE ? keys : EVENT_RATE ))
  if [ -n "$kpw" ] && [ "$kpw" != "$want" ]; then
    echo "warning: Flink's keys_per_window=$kpw but weir's windows hold $want keys: the streams differ (for K=1M use an odd multiple of 1M for N)"
  fi

  # --- weir
  echo "--- weir"
  load_note
  weir_out="$(mktemp)"
  set +e
  WEIR_BENCH_EVENTS_10K="$EVENTS_10K" WEIR_BENCH_EVENTS_1M="$EVENTS_1M" locked "$BENCH_EXE" "$c" 2>&1 | tee "$weir_out"
  weir_rc=${PIPESTATUS[0]}
  set -e
  [ "$weir_rc" -eq 0 ] || echo "warning: weir bench failed (rc=$weir_rc)"
  sum="$(grep "^bench=windowed_count keys=$keys events=" "$weir_out" | tail -1 || true)"
  rm -f "$weir_out"
  WEIR_MED[$c]="$(field median_events_per_sec "$sum")"
  WEIR_BEST[$c]="$(field best_events_per_sec "$sum")"
  WEIR_RUNS[$c]="$(field runs "$sum")"
  load_note
done

# --- table
echo
echo "=== windowed_count side by side ($(date -I), $(nproc) cores, P=$PARALLELISM, hashmap, checkpoints every $CHECKPOINT_INTERVAL, event rate 1M/s, 1 s windows)"
fmt="| %-5s | %11s | %11s | %17s | %17s | %18s | %16s | %9s | %13s | %15s |\n"
printf "$fmt" case N "Flink ckpts" "Flink ev/s (JM)" "Flink ev/s (wall)" "weir ev/s (median)" "weir ev/s (best)" "weir runs" "weir/Flink JM" "weir/Flink wall"
printf "$fmt" ----- ----------- ----------- ----------------- ----------------- ------------------ ---------------- --------- ------------- ---------------
for c in "${CASES[@]}"; do
  printf "$fmt" "$c" "${NS[$c]}" "${FLINK_CKPT[$c]}" "$(num "${FLINK_JM[$c]}")" "$(num "${FLINK_WALL[$c]}")" \
    "$(num "${WEIR_MED[$c]}")" "$(num "${WEIR_BEST[$c]}")" "${WEIR_RUNS[$c]:-n/a}" \
    "$(ratio "${WEIR_MED[$c]}" "${FLINK_JM[$c]}")" "$(ratio "${WEIR_MED[$c]}" "${FLINK_WALL[$c]}")"
done
echo "Flink ckpts = completed checkpoints seen via REST / via the JobManager log; Flink cpu_other_s: $(for c in "${CASES[@]}"; do printf '%s=%s ' "$c" "${FLINK_OTHER[$c]:-n/a}"; done)"
echo "side_by_side end=$(date -Is) out=$OUT"
