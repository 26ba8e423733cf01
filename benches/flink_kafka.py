"""Topic to job to topic on Apache Flink 2.3 (the peer in ../shared/peers/flink,
whose helpers this driver imports): a Flink SQL job that reads a Kafka topic
from its start to its end (bounded) and writes to another topic, parallelism
2, checkpoints every --checkpoint-interval (exactly-once commits a Kafka
transaction per checkpoint), in the peer's local MiniCluster.

Input: the records `kafka_windowed_count --produce` writes: key = the key in
decimal, value = `<event_time_ms>,<key>`. Jobs (--job):

* `copy`: every record to the output topic unchanged, key and value as raw
  bytes: `INSERT INTO snk SELECT * FROM src`;
* `windowed_count`: COUNT(*) per key in 1 s tumbling event-time windows
  (event time = the value's first field, watermark = event time per
  partition, no out-of-orderness); output key = the key in decimal, value =
  `<window_start_ms>,<key>,<count>`, as weir's `kafka_windowed_count`.

The Kafka SQL connector (org.apache.flink:flink-sql-connector-kafka, default
5.0.0-2.2) is fetched with Maven into ~/.cache/weir-peers/flink-kafka/ (once)
and handed to the job through `pipeline.jars`. The output topic is created
here (--output-partitions, default 4; it must not exist yet) with the Kafka
tools of the broker's jars (scripts/kafka.sh fetch puts them in
~/.cache/weir/kafka-<version>/libs), which also count the input
(end - start offsets, so `events` is the number of input records) and, with
--verify, read the output back at read_committed.

Prints `config`, `startup`, `checkpoint`, `verify` lines and one line

    result job= delivery= events=N seconds=S events_per_sec=E status= ...

`seconds` follows the peer's bench.py (and benches/flink_windows.py): client
wall time from the `execute_sql(INSERT ...)` call until the job's result is
back: planning, MiniCluster start, deployment, the run, the final checkpoint
(triggered as soon as every source has finished, not at the next interval)
and its commit, up to FINISHED. It excludes the Python and gateway JVM start
(`startup_s`). `net_runtime_s` is the JobManager's net runtime (job created
-> FINISHED). The `phases` line (from the run's log, FLINK_LOG_DIR) gives
each step's offset from the execute_sql call; `running_to_finished_s` =
all tasks RUNNING -> job FINISHED, i.e. without planning, MiniCluster start
and deployment, and `events_per_sec_running` = events / that. Usage, with
the peer's venv:

    $FLINK_VENV/bin/python benches/flink_kafka.py --bootstrap-servers 127.0.0.1:9092 \\
        --input-topic bench-in --output-topic out-1 --job copy --delivery exactly-once
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
FLINK_DIR = os.environ.get("FLINK_DIR") or os.path.join(HERE, "..", "..", "shared", "peers", "flink")
sys.path.insert(0, FLINK_DIR)

import bench  # noqa: E402  (the peer's driver: kv, REST poller, CPU accounting)

kv = bench.kv
CONNECTOR_GROUP = "org.apache.flink"
CONNECTOR_ARTIFACT = "flink-sql-connector-kafka"


def parse_args(argv):
    env = bench.env_default
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--job", default=env("JOB", "copy"), choices=["copy", "windowed_count"])
    p.add_argument("--delivery", default=env("DELIVERY", "exactly-once"),
                   choices=["exactly-once", "at-least-once"], help="sink.delivery-guarantee")
    p.add_argument("--bootstrap-servers", default=env("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    p.add_argument("--input-topic", default=env("KAFKA_INPUT", "bench-in"))
    p.add_argument("--output-topic", default=env("KAFKA_OUTPUT", ""),
                   help="default flink-out-<job>-<delivery>-<time>")
    p.add_argument("--output-partitions", type=int, default=int(env("OUTPUT_PARTITIONS", "4")),
                   help="create the output topic with this many partitions (it must not "
                        "exist); 0: use an existing topic")
    p.add_argument("--events", default=env("EVENTS", ""),
                   help="N for events_per_sec; default: the input topic's record count "
                        "(end - start offsets)")
    p.add_argument("--parallelism", type=int, default=int(env("PARALLELISM", "2")))
    p.add_argument("--checkpoint-interval", default=env("CHECKPOINT_INTERVAL", "10s"))
    p.add_argument("--window-ms", type=int, default=int(env("WINDOW_MS", "1000")),
                   help="tumbling window size (a multiple of 1000)")
    p.add_argument("--backend", default=env("BACKEND", "hashmap"), choices=["hashmap", "rocksdb"])
    p.add_argument("--transaction-timeout-ms", type=int,
                   default=int(env("TRANSACTION_TIMEOUT_MS", "900000")),
                   help="producer transaction.timeout.ms (the broker allows up to "
                        "transaction.max.timeout.ms, 1 h in scripts/kafka.sh)")
    p.add_argument("--connector-version", default=env("FLINK_KAFKA_CONNECTOR", "5.0.0-2.2"),
                   help="org.apache.flink:flink-sql-connector-kafka version")
    p.add_argument("--connector-dir", default=env(
        "FLINK_KAFKA_DIR", os.path.expanduser("~/.cache/weir-peers/flink-kafka")))
    p.add_argument("--kafka-libs", default=env("KAFKA_LIBS", ""),
                   help="the broker's jars (Kafka tools); default "
                        "$WEIR_KAFKA_HOME/libs or ~/.cache/weir/kafka-$WEIR_KAFKA_VERSION/libs")
    p.add_argument("--verify", action="store_true", default=env("VERIFY", "0") == "1",
                   help="afterwards, read the output topic at read_committed and print "
                        "output_records (and, for windowed_count, the sum of the counts)")
    p.add_argument("--managed-memory", default=env("MANAGED_MEMORY", "512m"))
    p.add_argument("--work-dir", default=env("WORK_DIR", ""))
    p.add_argument("--keep-work-dir", action="store_true", default=env("KEEP_WORK_DIR", "0") == "1")
    p.add_argument("--poll-interval", type=float, default=float(env("POLL_INTERVAL", "0.5")))
    p.add_argument("--timeout", type=float, default=float(env("JOB_TIMEOUT", "1800")))
    p.add_argument("--print-sql", action="store_true")
    p.add_argument("--label", default=env("LABEL", ""))
    a = p.parse_args(argv)
    if a.window_ms % 1000:
        p.error("--window-ms must be a multiple of 1000 (window_start_ms is built from seconds)")
    if not a.output_topic:
        a.output_topic = "flink-out-%s-%s-%d" % (a.job, a.delivery, int(time.time() * 1000))
    if not a.kafka_libs:
        home = os.environ.get("WEIR_KAFKA_HOME") or os.path.expanduser(
            "~/.cache/weir/kafka-%s" % os.environ.get("WEIR_KAFKA_VERSION", "4.1.1"))
        a.kafka_libs = os.path.join(home, "libs")
    return a


# --------------------------------------------------------------------------
# Kafka tools (the broker's jars) and the connector jar


def kafka_tool(a, main_class, *args, stdout=subprocess.PIPE):
    if not glob.glob(os.path.join(a.kafka_libs, "kafka-tools-*.jar")):
        raise RuntimeError("no Kafka tools in %s (run scripts/kafka.sh fetch)" % a.kafka_libs)
    cmd = ["java", "-Xmx512m", "-XX:TieredStopAtLevel=1",
           "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
           "-cp", os.path.join(a.kafka_libs, "*"), main_class] + list(args)
    return subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, check=False)


def topic_offsets(a, topic, time_arg):
    """Sum over partitions of GetOffsetShell --time (-1 latest, -2 earliest)."""
    r = kafka_tool(a, "org.apache.kafka.tools.GetOffsetShell", "--bootstrap-server",
                   a.bootstrap_servers, "--topic", topic, "--time", str(time_arg))
    if r.returncode != 0:
        raise RuntimeError("GetOffsetShell %s: %s" % (topic, r.stderr.strip()[-400:]))
    parts = [ln.rsplit(":", 2) for ln in r.stdout.split() if ln.count(":") >= 2]
    if not parts:
        raise RuntimeError("topic %s has no partitions (does it exist?)" % topic)
    return len(parts), sum(int(x[2]) for x in parts)


def create_topic(a, topic, partitions):
    r = kafka_tool(a, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server",
                   a.bootstrap_servers, "--create", "--topic", topic,
                   "--partitions", str(partitions), "--replication-factor", "1")
    if r.returncode != 0:
        raise RuntimeError("creating topic %s: %s" % (topic, (r.stderr or r.stdout).strip()[-400:]))


def read_output(a, topic, sum_counts):
    """Reads the whole topic at read_committed; returns (records, sum of the
    third value field or None)."""
    args = ["--bootstrap-server", a.bootstrap_servers, "--topic", topic, "--from-beginning",
            "--isolation-level", "read_committed", "--timeout-ms", "10000"]
    if not sum_counts:
        args += ["--formatter", "org.apache.kafka.tools.consumer.NoOpMessageFormatter"]
        r = kafka_tool(a, "org.apache.kafka.tools.consumer.ConsoleConsumer", *args)
        total = None
    else:
        proc = subprocess.Popen(
            ["java", "-Xmx512m", "-XX:TieredStopAtLevel=1",
             "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
             "-cp", os.path.join(a.kafka_libs, "*"),
             "org.apache.kafka.tools.consumer.ConsoleConsumer"] + args,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        err = []
        t = threading.Thread(target=lambda: err.append(proc.stderr.read()), daemon=True)
        t.start()
        total = 0
        for line in proc.stdout:
            fields = line.strip().split(",")
            if len(fields) == 3:
                total += int(fields[2])
        proc.wait()
        t.join()
        r = subprocess.CompletedProcess(proc.args, proc.returncode, "", err[0] if err else "")
    n = None
    for ln in (r.stderr or "").splitlines():
        if ln.startswith("Processed a total of"):
            n = int(ln.split()[4])
    if n is None:
        raise RuntimeError("ConsoleConsumer %s: %s" % (topic, (r.stderr or "").strip()[-400:]))
    return n, total


def connector_jar(a):
    """The connector jar, fetched with Maven into --connector-dir once."""
    name = "%s-%s.jar" % (CONNECTOR_ARTIFACT, a.connector_version)
    path = os.path.join(a.connector_dir, name)
    if os.path.isfile(path):
        return path
    os.makedirs(a.connector_dir, exist_ok=True)
    r = subprocess.run(
        ["mvn", "-q", "-B", "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy",
         "-Dartifact=%s:%s:%s" % (CONNECTOR_GROUP, CONNECTOR_ARTIFACT, a.connector_version),
         "-DoutputDirectory=" + a.connector_dir],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False, cwd="/tmp")
    if r.returncode != 0 or not os.path.isfile(path):
        raise RuntimeError("Maven could not fetch %s: %s" % (name, r.stdout.strip()[-600:]))
    return path


# --------------------------------------------------------------------------
# SQL


def sql_statements(a, run_tag):
    common = (f"'connector' = 'kafka',\n"
              f"  'properties.bootstrap.servers' = '{a.bootstrap_servers}'")
    source = (f"{common},\n  'topic' = '{a.input_topic}',\n"
              f"  'properties.group.id' = 'flink-bench-{run_tag}',\n"
              f"  'properties.isolation.level' = 'read_committed',\n"
              f"  'scan.startup.mode' = 'earliest-offset',\n"
              f"  'scan.bounded.mode' = 'latest-offset'")
    sink = f"{common},\n  'topic' = '{a.output_topic}',\n" \
           f"  'sink.delivery-guarantee' = '{a.delivery}'"
    if a.delivery == "exactly-once":
        # Unique per run: a run must never fence (or be fenced by) another.
        sink += (f",\n  'sink.transactional-id-prefix' = 'flink-bench-{run_tag}',\n"
                 f"  'properties.transaction.timeout.ms' = '{a.transaction_timeout_ms}'")
    raw_kv = ("'key.format' = 'raw',\n  'key.fields' = 'k',\n  'value.format' = 'raw',\n"
              "  'value.fields-include' = 'EXCEPT_KEY'")
    if a.job == "copy":
        ddl = [f"CREATE TEMPORARY TABLE src (k BYTES, v BYTES) WITH (\n  {source},\n  {raw_kv}\n)",
               f"CREATE TEMPORARY TABLE snk (k BYTES, v BYTES) WITH (\n  {sink},\n  {raw_kv}\n)"]
        insert = "INSERT INTO snk SELECT * FROM src"
    else:
        ddl = [f"""CREATE TEMPORARY TABLE src (
  event_ms BIGINT,
  k BIGINT,
  ts AS TO_TIMESTAMP_LTZ(event_ms, 3),
  WATERMARK FOR ts AS ts
) WITH (
  {source},
  'value.format' = 'csv'
)""",
               f"CREATE TEMPORARY TABLE snk (k STRING, v STRING) WITH (\n  {sink},\n  {raw_kv}\n)"]
        # window_start is a TIMESTAMP(3) in the session time zone (UTC, set
        # below); its epoch milliseconds, for windows of whole seconds:
        ws_ms = ("CAST(TIMESTAMPDIFF(SECOND, TIMESTAMP '1970-01-01 00:00:00', window_start) "
                 "AS BIGINT) * 1000")
        insert = f"""INSERT INTO snk
SELECT CAST(k AS STRING),
       CONCAT(CAST({ws_ms} AS STRING), ',', CAST(k AS STRING), ',', CAST(cnt AS STRING))
FROM (
  SELECT k, window_start, COUNT(*) AS cnt
  FROM TABLE(TUMBLE(TABLE src, DESCRIPTOR(ts), {bench.interval_sql(a.window_ms)}))
  GROUP BY k, window_start, window_end
)"""
    return ddl, insert


# --------------------------------------------------------------------------
# Where the time goes: the JobManager/TaskManager log of the run


PHASES = [  # (name, regex, first or last match)
    ("minicluster_start", r"Starting Flink Mini Cluster", "first"),
    ("job_submitted", r"StandaloneDispatcher.*Submitting job", "first"),
    ("job_running", r"ExecutionGraph.* - Job .* switched from state CREATED to RUNNING", "first"),
    ("tasks_running", r"ExecutionGraph.* switched from INITIALIZING to RUNNING", "last"),
    ("splits_assigned", r"Adding split\(s\) to reader", "last"),
    ("sources_done", r"Finished reading split\(s\)", "last"),
    ("last_checkpoint_triggered", r"Triggering checkpoint \d+", "last"),
    ("last_checkpoint_completed", r"Completed checkpoint \d+", "last"),
    ("job_finished", r"ExecutionGraph.* - Job .* switched from state RUNNING to FINISHED", "last"),
]
LOG_TIME_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ")


def log_phases(log_dir, t_submit):
    """Seconds from the execute_sql call to each phase, from the run's own
    log (FLINK_LOG_DIR must be a directory of this run only)."""
    if not log_dir or not os.path.isdir(log_dir):
        return {}
    regs = [(n, re.compile(r), w) for n, r, w in PHASES]
    seen = {}
    for f in sorted(glob.glob(os.path.join(log_dir, "*.log"))):
        with open(f, errors="replace") as fh:
            for line in fh:
                m = LOG_TIME_RE.match(line)
                if not m:
                    continue
                for name, reg, which in regs:
                    if (which == "last" or name not in seen) and reg.search(line):
                        t = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
                        seen[name] = t + int(m.group(2)) / 1000.0 - t_submit
    return seen


# --------------------------------------------------------------------------


def main(argv):
    t_script = float(os.environ.get("BENCH_T0", time.time()))
    a = parse_args(argv)
    run_tag = "%s-%s-%d-%s" % (a.job, a.delivery, os.getpid(), uuid.uuid4().hex[:8])
    run_id = "%s-kafka-%s" % (time.strftime("%Y%m%d-%H%M%S"), run_tag)
    work = a.work_dir or os.path.join("/tmp/flink-bench", run_id)
    os.makedirs(work, exist_ok=True)
    ckpt_dir = os.path.join(work, "checkpoints")
    log_dir = os.environ.get("FLINK_LOG_DIR", "")
    port = bench.free_port()
    ckpt_on = a.checkpoint_interval not in ("", "0", "0s", "0ms")
    if a.delivery == "exactly-once" and not ckpt_on:
        raise SystemExit("exactly-once commits at checkpoints: give --checkpoint-interval")

    jar = connector_jar(a)
    in_parts, in_end = topic_offsets(a, a.input_topic, -1)
    _, in_start = topic_offsets(a, a.input_topic, -2)
    events = bench.parse_size(a.events) if a.events else in_end - in_start
    if a.output_partitions > 0:
        create_topic(a, a.output_topic, a.output_partitions)

    settings = {
        "parallelism.default": str(a.parallelism),
        "table.exec.resource.default-parallelism": str(a.parallelism),
        "taskmanager.numberOfTaskSlots": str(a.parallelism),
        "taskmanager.memory.managed.size": a.managed_memory,
        "rest.bind-address": "127.0.0.1",
        "rest.address": "127.0.0.1",
        "rest.bind-port": str(port),
        "web.checkpoints.history": "10000",
        "web.refresh-interval": "1000",
        "metrics.fetcher.update-interval": "1000",
        "state.backend.type": a.backend,
        "state.backend.rocksdb.localdir": os.path.join(work, "rocksdb"),
        "table.local-time-zone": "UTC",
    }
    if ckpt_on:
        settings.update({
            "execution.checkpointing.interval": a.checkpoint_interval,
            "execution.checkpointing.dir": "file://" + ckpt_dir,
            "execution.checkpointing.num-retained": "1",
            "execution.checkpointing.timeout": "10min",
        })
    kv("config", run_id=run_id, job=a.job, delivery=a.delivery, events=events,
       bootstrap=a.bootstrap_servers, input_topic=a.input_topic, input_partitions=in_parts,
       output_topic=a.output_topic, output_partitions=a.output_partitions or None,
       parallelism=a.parallelism, backend=a.backend,
       checkpoint_interval=a.checkpoint_interval if ckpt_on else "off",
       window_ms=a.window_ms if a.job == "windowed_count" else None,
       connector=os.path.basename(jar), jvm_args=os.environ.get("JVM_ARGS", ""),
       work_dir=work, rest_port=port, label=a.label or None)

    # ---- JVM gateway start (py4j launches the JVM on first use)
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import EnvironmentSettings, StreamTableEnvironment
    t_import = time.time()
    conf = Configuration()
    for key, val in settings.items():
        conf.set_string(key, val)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    t_env = StreamTableEnvironment.create(
        env, EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf)
        .build())
    # Loads the jar into the gateway's class loader and ships it with the job.
    t_env.get_config().set("pipeline.jars", "file://" + os.path.abspath(jar))
    t_ready = time.time()
    kv("startup", python_start_to_import_s=t_import - t_script,
       jvm_gateway_and_env_s=t_ready - t_import, total_startup_s=t_ready - t_script)

    ddl, insert = sql_statements(a, run_tag)
    for stmt in ddl:
        t_env.execute_sql(stmt)
    if a.print_sql:
        for stmt in ddl + [insert]:
            print("-- sql\n" + stmt + ";", flush=True)
    with open(os.path.join(work, "job.sql"), "w") as fh:
        fh.write(";\n\n".join(ddl + [insert]) + ";\n")

    # ---- submit (the timed part starts here, as in the peer's bench.py)
    rest = bench.Rest(port)
    busy0, own0 = bench.cpu_busy_s(), bench.own_cpu_s()
    t_submit = time.time()
    result = t_env.execute_sql(insert)
    job_client = result.get_job_client()
    jid = str(job_client.get_job_id())
    t_submitted = time.time()
    poller = bench.Poller(rest, jid, a.poll_interval, ckpt_dir if ckpt_on else None, None)
    poller.start()

    status, net_runtime_ms, error = "UNKNOWN", None, None
    try:
        exec_result = job_client.get_job_execution_result().result()
        net_runtime_ms = exec_result.get_net_runtime()
        status = "FINISHED"
    except Exception as e:  # noqa: BLE001
        error = str(e).splitlines()[0][:300]
        status = "FAILED"
    t_done = time.time()
    busy1, own1 = bench.cpu_busy_s(), bench.own_cpu_s()
    poller.stop_ev.set()
    poller.join(timeout=5)

    checkpoints, job, *_rest = poller.snapshot()
    if job:
        for v in job.get("vertices", []):
            kv("vertex", name=v.get("name", "")[:160], parallelism=v.get("parallelism"),
               status=v.get("status"),
               read_records=v.get("metrics", {}).get("read-records"),
               write_records=v.get("metrics", {}).get("write-records"))
    log_cps = bench.parse_log_checkpoints(log_dir, jid) if ckpt_on else {}
    completed = {cid: c for cid, c in checkpoints.items() if c.get("status") == "COMPLETED"}
    for cid in sorted(set(completed) | set(log_cps)):
        c, lg = completed.get(cid), log_cps.get(cid, {})
        if c:
            kv("checkpoint", id=cid, duration_ms=c.get("end_to_end_duration"),
               full_size_bytes=c.get("state_size"),
               trigger_offset_s=(c.get("trigger_timestamp", 0) / 1000.0 - t_submit),
               log_bytes=lg.get("bytes"), via="rest")
        else:
            kv("checkpoint", id=cid, duration_ms=lg.get("duration_ms"),
               log_bytes=lg.get("bytes"), via="log")

    seconds = t_done - t_submit
    phases = log_phases(log_dir, t_submit)
    if phases:
        kv("phases", **{k + "_s": phases.get(k) for k, _r, _w in PHASES})
    run_s = None
    if "tasks_running" in phases and "job_finished" in phases:
        run_s = phases["job_finished"] - phases["tasks_running"]
    cpu = {}
    if None not in (busy0, busy1, own0, own1):
        cpu = dict(cpu_own_s=own1 - own0,
                   cpu_other_s=max(0.0, (busy1 - busy0) - (own1 - own0)),
                   cpu_own_util=((own1 - own0) / (seconds * (os.cpu_count() or 1)))
                   if seconds > 0 else None)
    with open("/proc/loadavg") as fh:
        cpu["load1_end"] = fh.read().split()[0]

    verify = {}
    if a.verify and status == "FINISHED":
        t_v = time.time()
        n, total = read_output(a, a.output_topic, a.job == "windowed_count")
        verify = dict(output_read_committed=n, output_count_sum=total)
        kv("verify", output_topic=a.output_topic, isolation="read_committed",
           output_records=n, output_count_sum=total, events=events,
           ok=(n == events) if a.job == "copy" else (total == events),
           read_s=time.time() - t_v)

    kv("result", job=a.job, delivery=a.delivery, events=events, seconds=seconds,
       events_per_sec=(events / seconds) if status == "FINISHED" and seconds > 0 else None,
       status=status,
       net_runtime_s=(net_runtime_ms / 1000.0) if net_runtime_ms is not None else None,
       events_per_sec_jm=(events / (net_runtime_ms / 1000.0)) if net_runtime_ms else None,
       submit_call_s=t_submitted - t_submit,
       running_to_finished_s=run_s,
       events_per_sec_running=(events / run_s) if run_s and status == "FINISHED" else None,
       checkpoints=len(set(completed) | set(log_cps)) if ckpt_on else None,
       startup_s=t_ready - t_script, parallelism=a.parallelism,
       checkpointing=a.checkpoint_interval if ckpt_on else "off",
       output_topic=a.output_topic, **verify, **cpu, label=a.label or None, error=error)
    if not a.keep_work_dir:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    return 0 if status == "FINISHED" else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception as exc:  # noqa: BLE001
        import traceback
        traceback.print_exc()
        kv("error", message=str(exc).splitlines()[0][:400] if str(exc) else repr(exc))
        sys.exit(1)
