//! Kafka in and out against a real broker (`scripts/kafka.sh`, Apache Kafka
//! 4 in KRaft mode on a loopback port): the `kafka_windowed_count` example
//! from a topic to a topic, exactly once, killed and restarted; rescaled;
//! with a partition added and the broker restarted while it runs; a record
//! that does not parse; a transaction left open by a killed run.

mod broker;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use weir::kafka::{tools, BadRecord, KafkaRecord, KafkaSourceConfig, StartFrom};
use weir::{JobConfig, OutputTag, StreamEnvironment};

use self::broker::Broker;
use crate::common::{self, example_bin, generated, Rng, BACKENDS};

/// One broker for the tests that do not stop it (each uses its own topics);
/// killed with the test process.
fn shared() -> &'static Broker {
    static SHARED: OnceLock<Broker> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    let _one = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    SHARED.get_or_init(Broker::start)
}

const KEYS: u64 = 50;
const RATE: u64 = 10_000;
const PARTITIONS: i32 = 4;

/// Writes events `range` of the generator, event `i` to partition `i mod partitions`.
fn produce(bootstrap: &str, topic: &str, range: std::ops::Range<u64>, partitions: i32) {
    let records = range.map(|i| {
        let (ts, key) = generated(i, KEYS, RATE);
        record(Some((i % partitions as u64) as i32), ts, &key.to_string(), &format!("{ts},{key}"))
    });
    tools::produce(bootstrap, topic, records).unwrap();
}

fn record(partition: Option<i32>, timestamp: i64, key: &str, value: &str) -> tools::Record {
    tools::Record { partition, timestamp, key: key.as_bytes().to_vec(), value: value.as_bytes().to_vec() }
}

/// Topics `<name>-in` (with events `0..n`) and `<name>-out`.
fn topics(b: &Broker, name: &str, n: u64, partitions: i32) -> (String, String) {
    let (input, output) = (format!("{name}-in"), format!("{name}-out"));
    tools::create_topic(&b.bootstrap(), &input, partitions).unwrap();
    tools::create_topic(&b.bootstrap(), &output, PARTITIONS).unwrap();
    produce(&b.bootstrap(), &input, 0..n, partitions);
    (input, output)
}

/// The output values visible at isolation `level`, sorted.
fn output_now(b: &Broker, topic: &str, level: &str) -> Vec<String> {
    let mut lines: Vec<String> =
        tools::read_all(&b.bootstrap(), topic, level).unwrap().into_iter().map(|r| String::from_utf8(r.value.unwrap()).unwrap()).collect();
    lines.sort();
    lines
}

/// The output values visible at isolation `level` once they stop changing:
/// a transaction committed just before its job ended becomes visible when
/// the broker has written its markers, a moment later.
fn output(b: &Broker, topic: &str, level: &str) -> Vec<String> {
    let mut last = output_now(b, topic, level);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(300));
        let now = output_now(b, topic, level);
        if now == last {
            return now;
        }
        last = now;
    }
    last
}

/// Asserts `got == expected`, showing only the first differences.
#[track_caller]
fn assert_same(got: &[String], expected: &[String], log: &Path) {
    if got == expected {
        return;
    }
    let missing: Vec<&String> = expected.iter().filter(|l| !got.contains(l)).take(8).collect();
    let extra: Vec<&String> = got.iter().filter(|l| !expected.contains(l)).take(8).collect();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text
        .lines()
        .filter(|l| ["WARN", "ERROR", "restor", "transaction", "complete", "fail point", "task"].iter().any(|w| l.contains(w)))
        .collect();
    panic!(
        "output differs from the reference: {} rows, expected {}; missing {missing:?}; unexpected {extra:?}\nlog tail:\n{}",
        got.len(),
        expected.len(),
        tail.join("\n")
    );
}

fn args(b: &Broker, (input, output): &(String, String), chk: &Path, backend: &str, extra: &str) -> Vec<String> {
    let mut a = common::argv(&format!(
        "--bootstrap-servers {} --input-topic {input} --output-topic {output} --bounded --checkpoint-dir {} \
         --state-backend {backend} --from-checkpoint latest",
        b.bootstrap(),
        chk.display()
    ));
    if !extra.contains("--checkpoint-interval") {
        a.extend(common::argv("--checkpoint-interval 200ms"));
    }
    a.extend(common::argv(extra));
    a
}

fn spawn(args: &[String], log: &Path, env: &[(&str, &str)]) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let mut c = Command::new(example_bin("kafka_windowed_count"));
    c.args(args).env("RUST_LOG", "info").stdout(Stdio::null()).stderr(log);
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

fn run_to_end(args: &[String], log: &Path) {
    let status = spawn(args, log, &[]).wait().unwrap();
    assert!(status.success(), "the job failed: {status}\n{}", std::fs::read_to_string(log).unwrap_or_default());
}

/// Waits until `done` or the child ends; false if it ended first.
fn wait_for(child: &mut Child, timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if done() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("waited {timeout:?} in vain");
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

fn topic_to_topic_after_random_sigkills(backend: &str) {
    let b = shared();
    let n = 200_000;
    let t = topics(b, &format!("kills-{backend}"), n, PARTITIONS);
    let dir = tempfile::tempdir().unwrap();
    let (chk, log) = (dir.path().join("chk"), dir.path().join("job.log"));
    let a = args(b, &t, &chk, backend, "--parallelism 2");
    let mut rng = Rng::from_env();
    let kills = common::kill_at_random_moments(&mut rng, 4, (300, 1500), "kafka job", |_| spawn(&a, &log, &[]));
    eprintln!("{backend}: killed {kills} times");
    assert_same(&output(b, &t.1, "read_committed"), &common::generated_reference(n, KEYS, RATE, 1000), &log);
}

#[test]
fn kafka_topic_to_topic_is_exact_after_sigkills_at_random_moments_hashmap() {
    topic_to_topic_after_random_sigkills(BACKENDS[0]);
}

#[test]
fn kafka_topic_to_topic_is_exact_after_sigkills_at_random_moments_rocksdb() {
    topic_to_topic_after_random_sigkills(BACKENDS[1]);
}

#[test]
fn kafka_rescale_from_2_to_3_instances_over_4_partitions() {
    let b = shared();
    let n = 300_000;
    let t = topics(b, "rescale", n, 4);
    let dir = tempfile::tempdir().unwrap();
    let (chk, log) = (dir.path().join("chk"), dir.path().join("job.log"));
    let mut first = spawn(&args(b, &t, &chk, "hashmap", "--parallelism 2"), &log, &[]);
    let killed = wait_for(&mut first, Duration::from_secs(120), || !common::complete_checkpoints(&chk).is_empty());
    assert!(killed, "the job ended before its first checkpoint: nothing to rescale");
    kill(first);
    let restored_from = *common::complete_checkpoints(&chk).last().unwrap();
    run_to_end(&args(b, &t, &chk, "hashmap", "--parallelism 3"), &log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(&format!("checkpoint={restored_from}")) && text.contains("restoring"), "the second run did not restore:\n{text}");
    assert_same(&output(b, &t.1, "read_committed"), &common::generated_reference(n, KEYS, RATE, 1000), &log);
}

#[test]
fn kafka_partition_added_while_the_job_runs_is_read() {
    let b = shared();
    let (input, output_topic) = ("grow-in".to_string(), "grow-out".to_string());
    tools::create_topic(&b.bootstrap(), &input, 2).unwrap();
    tools::create_topic(&b.bootstrap(), &output_topic, 2).unwrap();
    let half = 20_000;
    produce(&b.bootstrap(), &input, 0..half, 2);
    let dir = tempfile::tempdir().unwrap();
    let (chk, log) = (dir.path().join("chk"), dir.path().join("job.log"));
    let mut a = args(b, &(input.clone(), output_topic.clone()), &chk, "hashmap", "--parallelism 2 --discovery-interval 200ms");
    a.retain(|x| x != "--bounded");
    let mut job = spawn(&a, &log, &[]);
    // Windows of the first half are committed before the partition exists.
    let early = common::generated_reference(half, KEYS, RATE, 1000);
    let first_window = early[0].split(',').next().unwrap().to_string();
    assert!(wait_for(&mut job, Duration::from_secs(120), || output_now(b, &output_topic, "read_committed")
        .iter()
        .any(|l| l.starts_with(&format!("{first_window},")))));
    tools::add_partitions(&b.bootstrap(), &input, 3).unwrap();
    // The second half goes to all three partitions, then an event far ahead
    // in time on each pushes every partition's watermark past it.
    produce(&b.bootstrap(), &input, half..2 * half, 3);
    let end = generated(2 * half, KEYS, RATE).0 + 10_000;
    tools::produce(&b.bootstrap(), &input, (0..3).map(|p| record(Some(p), end, "0", &format!("{end},0")))).unwrap();
    let expected = common::generated_reference(2 * half, KEYS, RATE, 1000);
    let complete = wait_for(&mut job, Duration::from_secs(120), || output_now(b, &output_topic, "read_committed").len() >= expected.len());
    let got = output(b, &output_topic, "read_committed");
    kill(job);
    assert!(complete, "the job ended:\n{}", std::fs::read_to_string(&log).unwrap());
    assert_same(&got, &expected, &log);
}

#[test]
fn kafka_broker_stopped_and_started_while_the_job_runs_leaves_the_output_exact() {
    let b = Broker::start();
    let n = 300_000;
    let t = topics(&b, "outage", n, PARTITIONS);
    let dir = tempfile::tempdir().unwrap();
    let (chk, log) = (dir.path().join("chk"), dir.path().join("job.log"));
    let mut job = spawn(&args(&b, &t, &chk, "rocksdb", "--parallelism 2"), &log, &[]);
    let running = wait_for(&mut job, Duration::from_secs(120), || !common::complete_checkpoints(&chk).is_empty());
    assert!(running, "the job ended before the outage");
    b.stop();
    std::thread::sleep(Duration::from_secs(3));
    b.up();
    let status = job.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "the job failed: {status}\n{text}");
    eprintln!("restarts during the outage: {}", text.matches("restarting").count());
    assert_same(&output(&b, &t.1, "read_committed"), &common::generated_reference(n, KEYS, RATE, 1000), &log);
}

#[test]
fn kafka_record_that_does_not_parse_fails_the_job_naming_topic_partition_and_offset() {
    let b = shared();
    let t = topics(b, "bad", 100, 1);
    tools::produce(&b.bootstrap(), &t.0, [record(Some(0), 99_999, "k", "not a number")]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(example_bin("kafka_windowed_count"))
        .args(args(b, &t, &dir.path().join("chk"), "hashmap", "--restart-strategy none"))
        .output()
        .unwrap();
    let err = common::stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("topic bad-in partition 0 offset 100") && err.contains("expected <event_time_ms>,<key>"), "{err}");
}

#[test]
fn kafka_records_that_do_not_parse_go_to_a_side_output_when_asked() {
    let b = shared();
    let t = topics(b, "side", 10, 1);
    tools::produce(&b.bootstrap(), &t.0, [record(Some(0), 5, "k", "x,y")]).unwrap();
    produce(&b.bootstrap(), &t.0, 10..20, 1);
    let env = StreamEnvironment::new(JobConfig::new("side"));
    let bad = OutputTag::<BadRecord>::new("bad");
    let parse = |r: &KafkaRecord<'_>| -> Result<u64, String> {
        let v = std::str::from_utf8(r.value.unwrap_or_default()).map_err(|e| e.to_string())?;
        v.split_once(',').ok_or("no comma")?.1.parse::<u64>().map_err(|e| e.to_string())
    };
    let good = env.from_kafka_keeping_bad_records(KafkaSourceConfig::new(&b.bootstrap(), &[&t.0]).bounded(), parse, &bad);
    let refused = good.side_output(&bad).collect_to_vec();
    let keys = good.collect_to_vec();
    env.execute().unwrap();
    let refused = refused.lock().unwrap().clone();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!((refused[0].topic.as_str(), refused[0].partition, refused[0].offset), ("side-in", 0, 10));
    assert_eq!(refused[0].value.as_deref(), Some(&b"x,y"[..]));
    let mut keys = keys.lock().unwrap().clone();
    keys.sort();
    let mut expected: Vec<u64> = (0..20).map(|i| generated(i, KEYS, RATE).1).collect();
    expected.sort();
    assert_eq!(keys, expected);
}

/// Runs killed at `points`, one after another (at a checkpoint's
/// `_metadata` written and before its transactions commit, or just after
/// they commit, ...), each resuming from `latest` and checkpointing every
/// 50 ms (or as the point's second part says), then a run to the end: the
/// output at `read_committed`, all of it at `read_uncommitted`, and the
/// log. `None` when a run ended before its point.
fn killed_at(points: &[(&str, &str)], name: &str) -> Option<(Vec<String>, Vec<String>, String, tempfile::TempDir)> {
    let b = shared();
    let n = 200_000;
    let t = topics(b, name, n, 1);
    let dir = tempfile::tempdir().unwrap();
    let (chk, log) = (dir.path().join("chk"), dir.path().join("job.log"));
    let a = args(b, &t, &chk, "hashmap", "--parallelism 1 --checkpoint-interval 50ms");
    for (point, interval) in points {
        let a = args(
            b,
            &t,
            &chk,
            "hashmap",
            &format!("--parallelism 1 --checkpoint-interval {}", if interval.is_empty() { "50ms" } else { interval }),
        );
        let status = spawn(&a, &log, &[("WEIR_FAIL_POINT", point)]).wait().unwrap();
        if status.success() {
            return None; // ended before the point
        }
    }
    run_to_end(&a, &log);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_same(&output(b, &t.1, "read_committed"), &common::generated_reference(n, KEYS, RATE, 1000), &log);
    Some((output_now(b, &t.1, "read_committed"), output_now(b, &t.1, "read_uncommitted"), text, dir))
}

#[test]
fn kafka_transaction_left_open_by_a_killed_run_is_aborted_and_written_once() {
    // Killed after the n-th checkpoint is complete and before its transaction
    // commits; the first checkpoints may hold no output yet.
    for n in 2..=6 {
        let Some((_, _, log, _dir)) = killed_at(&[(&format!("metadata-written:{n}"), "")], &format!("open-txn-{n}")) else { break };
        if let Some(line) = log.lines().find(|l| l.contains("was not committed: writing its records again")) {
            // killed_at compared the output with the reference: written once.
            let records: u64 = line.split("records=").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().parse().unwrap();
            assert!(records > 0, "{line}");
            return;
        }
    }
    panic!("no checkpoint 2 to 6 held a transaction");
}

#[test]
fn kafka_checkpoint_restored_twice_has_its_transaction_written_once() {
    // Run 1 is killed with checkpoint n complete and its transaction open;
    // run 2 restores n, writes that transaction again, opens one of its own
    // on the same transactional id and is killed before it completes a
    // checkpoint; run 3 restores n again and must find its transaction
    // committed.
    for n in 2..=6 {
        let first = format!("metadata-written:{n}");
        let Some((_, _, log, _dir)) = killed_at(&[(&first, ""), ("sink-began:1", "1h")], &format!("twice-{n}")) else { break };
        if log.contains("writing its records again") {
            // killed_at compared the output with the reference: written once.
            assert!(log.contains("the transaction of the restored checkpoint was committed"), "{log}");
            return;
        }
    }
    panic!("no checkpoint 2 to 6 held a transaction");
}

#[test]
fn kafka_transaction_committed_just_before_a_kill_is_not_written_again() {
    let (_, _, log, _dir) = killed_at(&[("sink-committed:1", "")], "committed-txn").expect("the job ended before its first commit");
    assert!(log.contains("the transaction of the restored checkpoint was committed"), "{log}");
    assert!(!log.contains("writing its records again"), "{log}");
}

/// Keys of the records an in-process bounded job reads with `config`.
fn read_keys(config: KafkaSourceConfig, chk: Option<&Path>) -> Vec<u64> {
    let mut job = JobConfig::new("start");
    if let Some(chk) = chk {
        job = job.with_checkpoints(chk.to_str().unwrap(), Duration::from_millis(50));
    }
    let env = StreamEnvironment::new(job);
    let parse = |r: &KafkaRecord<'_>| -> Result<u64, String> {
        let v = std::str::from_utf8(r.value.unwrap_or_default()).map_err(|e| e.to_string())?;
        v.split_once(',').ok_or("no comma")?.1.parse::<u64>().map_err(|e| e.to_string())
    };
    let keys = env.from_kafka(config, parse).collect_to_vec();
    env.execute().unwrap();
    let keys = keys.lock().unwrap().clone();
    keys
}

#[test]
fn kafka_start_positions_and_the_group_offsets_committed_at_checkpoints() {
    let b = shared();
    let topic = "starts-in";
    tools::create_topic(&b.bootstrap(), topic, 2).unwrap();
    // 100 records at 1 s apart in time (timestamps 1_000..100_000), in two partitions.
    let at = |i: u64| record(Some((i % 2) as i32), 1_000 * (i as i64 + 1), "k", &format!("{},{i}", 1_000 * (i + 1)));
    tools::produce(&b.bootstrap(), topic, (0..100).map(at)).unwrap();
    let config = || KafkaSourceConfig::new(&b.bootstrap(), &[topic]).bounded();

    let mut all = read_keys(config().start_from(StartFrom::Earliest), None);
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>(), "earliest: everything");

    let mut late = read_keys(config().start_from(StartFrom::Timestamp(60_500)), None);
    late.sort();
    assert_eq!(late, (60..100).collect::<Vec<_>>(), "from a time: records at or after it");

    assert!(read_keys(config().start_from(StartFrom::Latest), None).is_empty(), "latest: nothing yet");

    // A job with a group commits its offsets when checkpoints complete; a
    // fresh job of the group then starts where it ended.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(read_keys(config().group_id("starts-group"), Some(&dir.path().join("chk"))).len(), 100);
    tools::produce(&b.bootstrap(), topic, (100..110).map(at)).unwrap();
    let mut rest = read_keys(config().group_id("starts-group").start_from(StartFrom::GroupOffsets), None);
    rest.sort();
    assert_eq!(rest, (100..110).collect::<Vec<_>>(), "group offsets: where the group's last checkpoint was");
}
