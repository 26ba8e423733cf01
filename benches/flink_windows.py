"""Runs the Flink peer's bench.py (../shared/peers/flink) with two more jobs
on the same `seq` stream as its `windowed_count`:

* `sliding_count`: COUNT(*) per key in HOP windows of --size-ms every
  --slide-ms (default 10 s every 1 s);
* `session_count`: COUNT(*) per key in SESSION windows with a --gap-ms gap
  (default 50 ms).

Every other flag is the peer's (see its README). Usage, with the peer's venv:

    $FLINK_VENV/bin/python benches/flink_windows.py --job sliding_count --events 20M --keys 10k
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FLINK_DIR = os.environ.get("FLINK_DIR") or os.path.join(HERE, "..", "..", "shared", "peers", "flink")
sys.path.insert(0, FLINK_DIR)

import bench  # noqa: E402  (the peer's driver)

OURS = {"sliding_count", "session_count"}


def take(argv, flag, default):
    """Removes `flag VALUE` from argv; returns VALUE (or default)."""
    if flag in argv:
        i = argv.index(flag)
        value = argv[i + 1]
        del argv[i:i + 2]
        return value
    return default


_parse_args = bench.parse_args
_sql_statements = bench.sql_statements


def parse_args(argv):
    argv = list(argv)
    job = take(argv, "--job", os.environ.get("JOB", "windowed_count"))
    size_ms = int(take(argv, "--size-ms", "10000"))
    slide_ms = int(take(argv, "--slide-ms", "1000"))
    gap_ms = int(take(argv, "--gap-ms", "50"))
    a = _parse_args(argv + ["--job", "windowed_count" if job in OURS else job])
    a.job, a.size_ms, a.slide_ms, a.gap_ms = job, size_ms, slide_ms, gap_ms
    return a


def sql_statements(a):
    if a.job not in OURS:
        return _sql_statements(a)
    ddl = ["CREATE TEMPORARY TABLE sink (k BIGINT, window_start TIMESTAMP(3), "
           "window_end TIMESTAMP(3), cnt BIGINT) WITH ('connector' = '%s')" % a.sink]
    if a.job == "sliding_count":
        window = (f"HOP(TABLE src, DESCRIPTOR(ts), {bench.interval_sql(a.slide_ms)}, "
                  f"{bench.interval_sql(a.size_ms)})")
    else:
        window = f"SESSION(TABLE src PARTITION BY k, DESCRIPTOR(ts), {bench.interval_sql(a.gap_ms)})"
    insert = f"""
INSERT INTO sink
SELECT k, window_start, window_end, COUNT(*) AS cnt
FROM TABLE({window})
GROUP BY k, window_start, window_end""".strip()
    return ddl, insert


bench.parse_args = parse_args
bench.sql_statements = sql_statements

if __name__ == "__main__":
    sys.exit(bench.main(sys.argv[1:]))
