#!/usr/bin/env bash
# Topic to job to topic on a real Kafka broker: Apache Flink 2.3 (the peer in
# ../shared/peers/flink, driven by benches/flink_kafka.py) and weir
# (`cargo bench --features kafka --bench kafka`), on the same broker and the
# same input topic, in one run. See benches/README.md.
#
# 1. starts a single-node Kafka 4.1.1 broker (scripts/kafka.sh) in a temp dir
#    on a free port; it is stopped (and the dir removed) on exit;
# 2. writes the input with the kafka_windowed_count example: topic `bench-in`,
#    4 partitions, EVENTS records, key (i * 2654435761) mod 10000 in decimal,
#    value `<event_time_ms>,<key>`, 1M events per second of event time,
#    event i to partition i mod 4;
# 3. Flink, parallelism 2, a checkpoint every 10 s, hashmap state, reading
#    the whole input (earliest -> latest offset, read_committed), each run
#    into a fresh output topic `flink-out-<job>-<delivery>-<ms>` (4
#    partitions): copy exactly-once, copy at-least-once, windowed_count
#    exactly-once (FLINK_RUNS); the output is read back at read_committed
#    afterwards (not timed) and counted;
# 4. weir's bench against the same broker and input
#    (WEIR_KAFKA_BOOTSTRAP, WEIR_KAFKA_INPUT); it makes its own output topics.
#
# Prints `flink <job> <delivery> events= seconds= events_per_sec= ...` lines
# (seconds: execute_sql -> FINISHED, the peer's convention, which includes
# Flink's planning, MiniCluster start and deployment; events_per_sec_running
# leaves those out) and weir's `weir <job> <delivery> ...` lines.
#
# Environment:
#   EVENTS=5M               input records (k/M/G suffixes)
#   FLINK_RUNS="copy:exactly-once copy:at-least-once windowed_count:exactly-once"
#   CHECKPOINT_INTERVAL=10s
#   VERIFY=1                read each Flink output back and count it (0: skip)
#   SKIP_WEIR=1             do not run weir's bench
#   FLINK_DIR, FLINK_VENV   the peer and its virtual env (installed by its setup.sh)
#   FLINK_KAFKA_CONNECTOR=5.0.0-2.2   org.apache.flink:flink-sql-connector-kafka
#                           version (fetched into ~/.cache/weir-peers/flink-kafka/)
#   JVM_HEAP=4g             -Xmx of Flink's gateway JVM (MiniCluster inside)
#   LOCK_FILE=              if set, every measured run holds this flock
#   MAX_LOAD=none           if a number, wait before each measured run until the
#                           1-min load average is below it (MAX_LOAD_WAIT_S=300)
#   OUT=target/side-by-side/kafka-<time>.txt   copy of everything printed;
#                           every raw line of the Flink driver goes to $OUT.raw
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FLINK_DIR="${FLINK_DIR:-$ROOT/../shared/peers/flink}"
FLINK_VENV="${FLINK_VENV:-$HOME/.cache/weir-peers/flink-venv}"
FLINK_RUNS="${FLINK_RUNS:-copy:exactly-once copy:at-least-once windowed_count:exactly-once}"
CHECKPOINT_INTERVAL="${CHECKPOINT_INTERVAL:-10s}"
VERIFY="${VERIFY:-1}"
INPUT=bench-in
PARTITIONS=4
KEYS=10000
EVENT_RATE=1000000
export FLINK_DIR LOCK_FILE="${LOCK_FILE:-}" MAX_LOAD="${MAX_LOAD:-none}" MAX_LOAD_WAIT_S="${MAX_LOAD_WAIT_S:-300}"
OUT="${OUT:-$ROOT/target/side-by-side/kafka-$(date +%Y%m%dT%H%M%S).txt}"
mkdir -p "$(dirname "$OUT")"
: >"$OUT"
exec > >(tee -a "$OUT") 2>&1

# shellcheck source=benches/side_by_side_lib.sh
. "$ROOT/benches/side_by_side_lib.sh"
EVENTS="$(to_count "${EVENTS:-5M}")"

"$FLINK_DIR/setup.sh" >/dev/null
"$ROOT/scripts/kafka.sh" fetch >/dev/null
PRODUCER="$ROOT/target/release/examples/kafka_windowed_count"
if [ ! -x "$PRODUCER" ]; then
  (cd "$ROOT" && cargo build --release --features kafka --example kafka_windowed_count)
fi

start_broker weir-kafka-bench

echo "side_by_side_kafka start=$(date -Is) host=$(hostname) cores=$(nproc) bootstrap=$BOOTSTRAP input=$INPUT partitions=$PARTITIONS events=$EVENTS keys=$KEYS event_rate=$EVENT_RATE checkpoint_interval=$CHECKPOINT_INTERVAL flink_runs=\"$FLINK_RUNS\" out=$OUT"
t0=$(date +%s.%N)
"$PRODUCER" --bootstrap-servers "$BOOTSTRAP" --input-topic "$INPUT" --output-topic bench-unused \
  --produce "$EVENTS" --produce-only --partitions "$PARTITIONS" --keys "$KEYS" --event-rate "$EVENT_RATE" >/dev/null
echo "input topic=$INPUT records=$EVENTS seconds=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')"

flink_run() { # job delivery
  local job="$1" delivery="$2" log_dir verify=()
  log_dir="$(mktemp -d /tmp/flink-bench-log.XXXXXX)"
  [ "$VERIFY" = 1 ] && verify=(--verify)
  JVM_ARGS="-Xmx${JVM_HEAP:-4g}" FLINK_LOG_DIR="$log_dir" BENCH_T0="$(date +%s.%N)" \
    "$FLINK_VENV/bin/python" "$ROOT/benches/flink_kafka.py" --job "$job" --delivery "$delivery" \
    --bootstrap-servers "$BOOTSTRAP" --input-topic "$INPUT" \
    --output-topic "flink-out-$job-$delivery-$(date +%s%3N)" --output-partitions "$PARTITIONS" \
    --parallelism 2 --checkpoint-interval "$CHECKPOINT_INTERVAL" "${verify[@]}" 2>"$log_dir/driver.stderr" || true
  echo "flink_log dir=$log_dir"
}

echo "== Flink 2.3 (connector flink-sql-connector-kafka ${FLINK_KAFKA_CONNECTOR:-5.0.0-2.2})"
for run in $FLINK_RUNS; do
  job="${run%%:*}" delivery="${run#*:}"
  lines="$(locked flink_run "$job" "$delivery")"
  # Every raw line goes to $OUT only; the terminal gets the summary.
  printf '%s\n' "$lines" >>"$OUT.raw"
  res="$(grep '^result ' <<<"$lines" || true)"
  if [ -z "$res" ]; then
    echo "flink $job $delivery status=NO_RESULT $(grep -E '^(error|flink_log) ' <<<"$lines" | paste -sd' ')"
    continue
  fi
  tr ' ' '\n' <<<"$res" |
    grep -E '^(events|seconds|events_per_sec|status|net_runtime_s|running_to_finished_s|events_per_sec_running|startup_s|output_read_committed|output_count_sum|cpu_other_s|load1_end|output_topic|error)=' |
    paste -sd' ' | sed "s/^/flink $job $delivery /"
done

if [ "${SKIP_WEIR:-0}" = 1 ]; then
  echo "== weir (skipped: SKIP_WEIR=1)"
  exit 0
fi
echo "== weir"
cd "$ROOT"
run_weir() {
  WEIR_KAFKA_BOOTSTRAP="$BOOTSTRAP" WEIR_KAFKA_INPUT="$INPUT" cargo bench --features kafka --bench kafka 2>/dev/null
}
locked run_weir | grep -E '^weir ' || echo "weir: no result lines (does benches/kafka.rs build?)"
