#!/usr/bin/env bash
# A real single-node Apache Kafka broker for weir's tests: one JVM that is both
# broker and KRaft controller (combined mode), on loopback ports, with its
# data and logs in a directory the caller owns.
#
#   scripts/kafka.sh fetch
#       Brings the broker's jars from Maven Central (scripts/kafka/pom.xml) into
#       $WEIR_KAFKA_HOME/libs (default ~/.cache/weir/kafka-<version>/libs),
#       outside the clone, so that a fresh clone on the same machine reuses
#       them; installs java and maven first if either is missing. Idempotent:
#       a marker file says the copy is complete (and for which pom), so an
#       interrupted download is done again. Prints the libs directory.
#   scripts/kafka.sh start DIR PORT [CONTROLLER_PORT]
#       Starts a broker on 127.0.0.1:PORT (its controller on CONTROLLER_PORT,
#       default a free port) with DIR/server.properties, data in DIR/data and
#       its log in DIR/broker.log; returns once the broker serves requests
#       (its "Kafka Server started" line), or fails with the log's tail.
#       DIR/data is formatted only the first time: starting again on the same
#       DIR after `stop` or `kill` keeps the topics and their records.
#   scripts/kafka.sh stop DIR   SIGTERM (clean shutdown), SIGKILL after 30 s.
#   scripts/kafka.sh kill DIR   SIGKILL, as a crash would.
#
# Several brokers may run at once, each with its own DIR and ports.
# Environment: WEIR_KAFKA_VERSION (default below), WEIR_KAFKA_HOME,
# WEIR_KAFKA_START_TIMEOUT (seconds, default 60), WEIR_KAFKA_HEAP (default
# 512m), WEIR_KAFKA_JAVA_OPTS (more JVM options, split at spaces), and
# WEIR_KAFKA_WATCH_PID: when set, the broker is killed as soon as
# that process (say, the test binary) is gone, so a test that dies does not
# leave a broker behind.
set -euo pipefail

# The release the tests are written against; scripts/kafka/pom.xml pins the rest.
kafka_version="${WEIR_KAFKA_VERSION:-4.1.1}"
kafka_home="${WEIR_KAFKA_HOME:-$HOME/.cache/weir/kafka-$kafka_version}"
libs="$kafka_home/libs"
marker="$kafka_home/.weir-complete"
here=$(cd "$(dirname "$0")" && pwd)
pom="$here/kafka/pom.xml"

die() { echo "kafka.sh: $*" >&2; exit 1; }

apt_install() {
  if command -v apt-get >/dev/null 2>&1; then
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null 2>&1 || die "please install $* (not root, and no sudo)"
      sudo="sudo"
    fi
    echo "kafka.sh: installing $*" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
  else
    die "please install $* (Java runs the broker, Maven fetches it)"
  fi
}

# What the marker records: the version and the pom it was fetched with, so
# that changing either fetches again.
fetch_stamp() {
  echo "kafka $kafka_version $(sha256sum "$pom" | cut -d' ' -f1)"
}

fetched() {
  [ -f "$marker" ] && [ "$(cat "$marker" 2>/dev/null)" = "$(fetch_stamp)" ]
}

cmd_fetch() {
  local need=()
  command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || need+=(maven)
  [ ${#need[@]} -eq 0 ] || apt_install "${need[@]}"
  if fetched; then
    echo "$libs"
    return
  fi
  mkdir -p "$kafka_home"
  # Tests may fetch in parallel: one does it, the others wait for it.
  exec 9>"$kafka_home/.lock"
  flock 9
  if ! fetched; then
    echo "kafka.sh: fetching Kafka $kafka_version into $libs" >&2
    rm -rf "$libs" "$libs.partial" "$marker"
    mvn -q -B -f "$pom" -Dkafka.version="$kafka_version" \
      dependency:copy-dependencies -DoutputDirectory="$libs.partial" >"$kafka_home/fetch.log" 2>&1 ||
      { sed 's/\x1b\[[0-9;]*m//g' "$kafka_home/fetch.log" >&2; die "Maven could not fetch Kafka $kafka_version"; }
    [ -f "$libs.partial/kafka_2.13-$kafka_version.jar" ] || die "Maven did not bring kafka_2.13-$kafka_version.jar"
    mv "$libs.partial" "$libs"
    fetch_stamp >"$marker"
  fi
  flock -u 9
  exec 9>&-
  echo "$libs"
}

# Whether process PID runs (a zombie does not).
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat:0:1}" != Z ]
}

# Whether DIR/broker.pid names a live broker of DIR (not a reused pid).
broker_pid() {
  local dir=$1 pid
  pid=$(cat "$dir/broker.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -F "$dir/server.properties" >/dev/null || return 1
  echo "$pid"
}

# A port nobody listens on, below Linux's ephemeral range (32768-60999) so
# that it does not collide with the ports that tests get by binding port 0.
free_port() {
  local used="" port _ local_addr state
  while read -r _ local_addr _ state _; do
    [ "$state" = 0A ] && used+=" $((16#${local_addr##*:})) "
  done < <(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 12000))
    [[ $used == *" $port "* ]] || { echo "$port"; return; }
  done
  die "no free port found"
}

# A random cluster id as Kafka writes them: 16 bytes, URL-safe base64 without
# padding, never starting with '-' (which the formatter would take for an option).
cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    [ "${id:0:1}" != "-" ] && { echo "$id"; return; }
  done
}

write_config() {
  local dir=$1 port=$2 cport=$3
  cat >"$dir/server.properties" <<EOF
# Written by scripts/kafka.sh start: a single-node KRaft broker for tests.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
# A static quorum of this one node: the controller port may change between
# restarts of the same DIR.
controller.quorum.voters=1@127.0.0.1:$cport
log.dirs=$dir/data

# One replica of everything.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
default.replication.factor=1
num.partitions=1
auto.create.topics.enable=false
auto.leader.rebalance.enable=false

# After a SIGKILL the restarted broker may register only once the session of
# the killed one has expired (9 s by default): shorter, but with room for a
# loaded machine's pauses.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000

# Keep every record: tests write event times from 1970, and time-based
# retention would delete a segment of them as soon as it rolls.
log.retention.ms=-1
log.retention.bytes=-1

# Quick groups and transactions.
group.initial.rebalance.delay.ms=0
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
transaction.max.timeout.ms=3600000

# Small: few threads, small segments and indexes, a small cleaner buffer.
num.network.threads=2
num.io.threads=2
background.threads=2
num.replica.fetchers=1
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
log.segment.bytes=8388608
log.index.size.max.bytes=1048576
EOF
}

# What a failed start shows: the errors of this start's log, then its end.
show_failure() {
  local dir=$1 offset=$2
  {
    echo "--- errors in $dir/broker.log:"
    tail -c +$((offset + 1)) "$dir/broker.log" | grep -E -A 2 ' (ERROR|FATAL) ' | head -n 30 || true
    echo "--- its last lines:"
    tail -n 15 "$dir/broker.log"
  } >&2
}

cmd_start() {
  if [ $# -lt 2 ] || [ $# -gt 3 ]; then die "usage: kafka.sh start DIR PORT [CONTROLLER_PORT]"; fi
  mkdir -p "$1"
  local dir port=$2 cport=${3:-} timeout=${WEIR_KAFKA_START_TIMEOUT:-60} pid
  dir=$(cd "$1" && pwd)
  [ -n "$cport" ] || cport=$(free_port)
  if pid=$(broker_pid "$dir"); then die "a broker already runs in $dir (pid $pid)"; fi
  if ! fetched || ! command -v java >/dev/null 2>&1; then cmd_fetch >/dev/null; fi

  write_config "$dir" "$port" "$cport"
  if [ ! -f "$dir/data/meta.properties" ]; then
    java -Xmx256m -XX:TieredStopAtLevel=1 -cp "$libs/*" \
      -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
      kafka.tools.StorageTool format --ignore-formatted \
      --cluster-id "$(cluster_id)" --config "$dir/server.properties" \
      >>"$dir/format.log" 2>&1 || { tail -n 30 "$dir/format.log" >&2; die "formatting $dir/data failed"; }
  fi

  # Only this start's lines of the log count (a restart appends to it).
  touch "$dir/broker.log"
  local offset
  offset=$(stat -c %s "$dir/broker.log")
  echo "=== kafka.sh start $(date -Is) port $port controller $cport" >>"$dir/broker.log"
  local extra_opts=()
  read -r -a extra_opts <<<"${WEIR_KAFKA_JAVA_OPTS:-}"
  # stdin/stdout/stderr go to files, never to the caller's pipes, so that a
  # caller that reads this script's output to its end does not wait on the broker.
  # C1 only (TieredStopAtLevel=1): on two cores shared with the tests, C2's
  # compiler threads cost the broker more CPU than they win back.
  java "-Xmx${WEIR_KAFKA_HEAP:-512m}" -Xms64m -Xss512k -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -XX:MaxMetaspaceSize=128m -Djava.awt.headless=true \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd'T'HH:mm:ss.SSS" \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -Dorg.slf4j.simpleLogger.log.state.change.logger=warn \
    -Dorg.slf4j.simpleLogger.log.kafka.request.logger=warn \
    -Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients.admin.AdminClientConfig=warn \
    -Dorg.slf4j.simpleLogger.log.org.apache.kafka.common.config.AbstractConfig=warn \
    -Dlog4j2.statusLoggerLevel=OFF "${extra_opts[@]}" \
    -cp "$libs/*" kafka.Kafka "$dir/server.properties" \
    </dev/null >>"$dir/broker.log" 2>&1 &
  pid=$!
  echo "$pid" >"$dir/broker.pid"
  echo "$port" >"$dir/broker.port"

  if [ -n "${WEIR_KAFKA_WATCH_PID:-}" ]; then
    local watch=$WEIR_KAFKA_WATCH_PID
    (
      while alive "$watch"; do
        alive "$pid" || exit 0
        sleep 1
      done
      kill -9 "$pid" 2>/dev/null || true
    ) </dev/null >/dev/null 2>&1 &
  fi

  local deadline=$((SECONDS + timeout))
  while :; do
    if ! alive "$pid"; then
      show_failure "$dir" "$offset"
      rm -f "$dir/broker.pid"
      die "the broker in $dir exited during startup (see $dir/broker.log)"
    fi
    # (Not grep -q: under pipefail, tail's SIGPIPE would fail the check.)
    if tail -c +$((offset + 1)) "$dir/broker.log" | grep -F "Kafka Server started" >/dev/null &&
      (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      break
    fi
    if [ $SECONDS -ge $deadline ]; then
      show_failure "$dir" "$offset"
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/broker.pid"
      die "the broker in $dir did not start within ${timeout}s (see $dir/broker.log)"
    fi
    sleep 0.2
  done
  echo "kafka.sh: broker up on 127.0.0.1:$port (pid $pid, dir $dir)" >&2
}

cmd_stop() {
  [ $# -eq 1 ] || die "usage: kafka.sh stop DIR"
  local dir pid
  [ -d "$1" ] || return 0
  dir=$(cd "$1" && pwd)
  pid=$(broker_pid "$dir") || { rm -f "$dir/broker.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    alive "$pid" || { rm -f "$dir/broker.pid"; return 0; }
    sleep 0.1
  done
  echo "kafka.sh: the broker in $dir did not stop within 30s; killing it" >&2
  cmd_kill "$dir"
}

cmd_kill() {
  [ $# -eq 1 ] || die "usage: kafka.sh kill DIR"
  local dir pid
  [ -d "$1" ] || return 0
  dir=$(cd "$1" && pwd)
  pid=$(broker_pid "$dir") || { rm -f "$dir/broker.pid"; return 0; }
  kill -KILL "$pid" 2>/dev/null || true
  # Its ports and files are free once it is gone.
  for _ in $(seq 1 100); do
    alive "$pid" || break
    sleep 0.1
  done
  rm -f "$dir/broker.pid"
}

case "${1:-}" in
  fetch) shift; cmd_fetch "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  kill) shift; cmd_kill "$@" ;;
  *) die "usage: kafka.sh fetch | start DIR PORT [CONTROLLER_PORT] | stop DIR | kill DIR" ;;
esac
