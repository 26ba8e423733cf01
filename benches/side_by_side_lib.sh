# Shared by the side_by_side*.sh scripts (sourced, not run).

# '700M' -> 700000000 (k/K, M/m, G/g suffixes, '_' separators)
to_count() {
  awk -v s="$1" 'BEGIN {
    gsub(/_/, "", s); m = 1; c = substr(s, length(s), 1)
    if (c ~ /[kK]/) m = 1e3; else if (c ~ /[mM]/) m = 1e6; else if (c ~ /[gG]/) m = 1e9
    if (m > 1) s = substr(s, 1, length(s) - 1)
    if (s !~ /^[0-9]+(\.[0-9]+)?$/) exit 1
    printf "%.0f\n", s * m }' || { echo "side_by_side: bad count '$1'" >&2; exit 2; }
}

# A loopback port nobody listens on, below Linux's ephemeral range (as
# scripts/kafka.sh picks for its controller).
free_port() {
  python3 -c '
import random, socket
for _ in range(200):
    p = random.randint(20000, 31999)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()
'
}

# Starts a broker of its own (scripts/kafka.sh) on a free port, in a new
# directory /tmp/$1.XXXXXX, stopped and removed when the script exits (and
# killed with it if the script is killed outright). Sets PORT, BROKER_DIR
# and BOOTSTRAP; needs ROOT.
start_broker() {
  PORT="$(free_port)"
  BROKER_DIR="$(mktemp -d "/tmp/$1.XXXXXX")"
  BOOTSTRAP="127.0.0.1:$PORT"
  trap stop_broker EXIT
  WEIR_KAFKA_WATCH_PID=$$ "$ROOT/scripts/kafka.sh" start "$BROKER_DIR" "$PORT"
}

stop_broker() {
  "$ROOT/scripts/kafka.sh" stop "$BROKER_DIR" || true
  rm -rf "$BROKER_DIR"
}

# Value of key $1 in the key=value line $2 ('' if absent).
field() { sed -n "s/^.* $1=\([^ ]*\).*$/\1/p" <<<" $2" | head -1; }

load_note() {
  echo "load $(date +%T) loadavg=\"$(cut -d' ' -f1-3 /proc/loadavg)\" rustc_processes=$(pgrep -c -x rustc || true) cargo_processes=$(pgrep -c -x cargo || true)"
}

# Same rule as the peer's run.sh, for weir's runs.
wait_load() {
  [ "$MAX_LOAD" = "none" ] && return 0
  local waited=0 l1
  while :; do
    l1="$(cut -d' ' -f1 /proc/loadavg)"
    awk -v l="$l1" -v m="$MAX_LOAD" 'BEGIN{exit !(l<m)}' && break
    if [ "$waited" -ge "$MAX_LOAD_WAIT_S" ]; then echo "load_wait gave_up=1 load1=$l1"; break; fi
    sleep 5; waited=$((waited + 5))
  done
  echo "load_wait waited_s=$waited"
}

# Builds bench $1 in release and prints its executable.
bench_exe() {
  cargo bench --bench "$1" --no-run --message-format=json-render-diagnostics |
    python3 -c '
import json, sys
name, exe = sys.argv[1], None
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == name \
            and "bench" in m.get("target", {}).get("kind", []) and m.get("executable"):
        exe = m["executable"]
print(exe or "")
' "$1"
}

# Runs "$@" under $LOCK_FILE (if set) once the load is low enough.
locked() {
  if [ -n "$LOCK_FILE" ]; then
    ( flock 9; wait_load; "$@" 9>&- ) 9>"$LOCK_FILE"
  else
    ( wait_load; "$@" )
  fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2fx\n", a / b }'; }
num() { awk -v a="$1" 'BEGIN { if (a == "") print "n/a"; else printf "%.0f\n", a }'; }
