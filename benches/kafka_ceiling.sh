#!/usr/bin/env bash
# The Kafka broker's own ceiling on this machine: how many records per second
# Kafka's ProducerPerformance (kafka-producer-perf-test) writes into one
# local broker, plain and transactional. A job that copies a topic reads and
# writes every record through that broker, so this bounds any copy job here
# (see benches/README.md, "Kafka").
#
# Starts a single-node Kafka 4.1.1 broker (scripts/kafka.sh) in a temp dir on
# a free port, creates topic `perf` with 4 partitions, and runs the producer
# twice: acks=all, linger.ms=10, 1 MiB batches, RECORDS records of 20 bytes,
# as fast as it can; the second time in transactions of 10 s. Prints
# ProducerPerformance's summary line of each run after `plain` and
# `transactional`.
#
# Environment: RECORDS=5M.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=benches/side_by_side_lib.sh
. "$ROOT/benches/side_by_side_lib.sh"
RECORDS="$(to_count "${RECORDS:-5M}")"

LIBS="$("$ROOT/scripts/kafka.sh" fetch)"
start_broker weir-kafka-ceiling

tool() { java -cp "$LIBS/*" "$@"; }
tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --create --topic perf --partitions 4 --replication-factor 1 >/dev/null 2>&1

echo "kafka_ceiling start=$(date -Is) cores=$(nproc) records=$RECORDS record_size=20 partitions=4"
props=(bootstrap.servers="$BOOTSTRAP" acks=all linger.ms=10 batch.size=1048576)
perf() { # label, extra arguments
  local label="$1"
  shift
  printf '%s ' "$label"
  tool org.apache.kafka.tools.ProducerPerformance --topic perf --num-records "$RECORDS" --record-size 20 \
    --throughput -1 --producer-props "${props[@]}" "$@" 2>/dev/null | tail -1
}
perf plain
perf transactional --transactional-id weir-ceiling --transaction-duration-ms 10000
