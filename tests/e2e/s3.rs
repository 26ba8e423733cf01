//! Jobs and the `weir` tool on `s3://` checkpoint directories, against
//! moto's S3 server on a loopback port (see `checkpoint/tests/support/moto.rs`):
//! SIGKILL and resume from `latest`, every `weir checkpoints` command, a
//! server that stops answering for a few seconds, and a checkpoint that times
//! out while it does. The sink writes to a local directory; the checkpoints
//! go to S3 only.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::moto::MotoServer;

const KEYS: u64 = 100;
const EVENT_RATE: u64 = 10_000;

/// The windowed_count flags of these tests: `n` generated events, two
/// instances, checkpoints into `chk` (an `s3://` URL), output into `out`.
fn job(n: u64, backend: &str, chk: &str, out: &Path, extra: &str) -> Vec<String> {
    argv(&format!(
        "--generate {n} --keys {KEYS} --event-rate {EVENT_RATE} --parallelism 2 --state-backend {backend} \
         --checkpoint-dir {chk} --output {} {extra}",
        out.display()
    ))
}

/// windowed_count, reaching `server` through the environment.
fn windowed_count(server: &MotoServer, args: &[String]) -> Command {
    let mut cmd = Command::new(windowed_count_bin());
    server.apply(&mut cmd).args(args).env("RUST_LOG", "info");
    cmd
}

/// Starts the job, its log going to `log`.
fn spawn_job(server: &MotoServer, args: &[String], log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    windowed_count(server, args).stdout(Stdio::null()).stderr(log).spawn().unwrap()
}

/// The `weir` tool, reaching `server` through the environment.
fn weir(server: &MotoServer, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weir"));
    server.apply(&mut cmd).args(args).output().unwrap()
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}{}", stdout(o), stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

/// The ids of the complete checkpoints under `chk`, as `weir checkpoints list` reports them.
fn complete_ids(server: &MotoServer, chk: &str) -> Vec<u64> {
    let listed = json(&weir(server, &["checkpoints", "list", chk, "--json"]));
    let rows = listed["checkpoints"].as_array().unwrap();
    rows.iter().filter(|c| c["complete"] == true).map(|c| c["id"].as_u64().unwrap()).collect()
}

/// Polls `done` every 100 ms for up to two minutes, failing if `child` ends first.
fn wait_until(child: &mut Child, log: &Path, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    let show = || std::fs::read_to_string(log).unwrap_or_default();
    while !done() {
        assert!(child.try_wait().unwrap().is_none(), "the job ended before {what}: {}", show());
        assert!(started.elapsed() < Duration::from_secs(120), "timed out waiting for {what}: {}", show());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What `weir checkpoints gc --dry-run` would delete under `chk`.
fn garbage(server: &MotoServer, chk: &str) -> Vec<String> {
    let report = json(&weir(server, &["checkpoints", "gc", chk, "--dry-run", "--json"]));
    report["deleted"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect()
}

#[test]
fn s3_sigkill_at_random_moments_then_latest_gives_the_reference_output() {
    const N: u64 = 150_000;
    let server = MotoServer::start();
    let mut rng = Rng::from_env();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let chk = server.url("crash/chk");
    // 6 s of input at 25 000 events/s; four runs of at most 1.2 s each cannot
    // read it all, so the job is killed at least three times.
    let kills = kill_at_random_moments(&mut rng, 4, (300, 900), "s3", |rng| {
        let interval = format!("--checkpoint-interval {}ms --rate 25000 --from-checkpoint latest", 100 + rng.below(101));
        windowed_count(&server, &job(N, "rocksdb", &chk, &out, &interval)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
    });
    assert!(kills >= 3, "the job was killed only {kills} times");
    assert_eq!(committed_lines(&out), generated_reference(N, KEYS, EVENT_RATE, 1000), "after {kills} kills");
    let ids = complete_ids(&server, &chk);
    assert!(!ids.is_empty(), "the final checkpoint is on S3");
    assert_eq!(garbage(&server, &chk), Vec::<String>::new(), "a job that ended left nothing behind");
}

#[test]
fn s3_tool_lists_inspects_verifies_collects_and_promotes() {
    const N: u64 = 40_000;
    let server = MotoServer::start();
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let chk = server.url("tool/chk");
    let log = p("job.log");
    let state = format!("--checkpoint-interval 100ms --rate 5000 --state-dir {}", p("state").display());
    let mut child = spawn_job(&server, &job(N, "rocksdb", &chk, &p("out"), &state), &log);
    wait_until(&mut child, &log, "two checkpoints complete", || complete_ids(&server, &chk).len() >= 2);
    child.kill().unwrap(); // SIGKILL: a stale lock, perhaps an incomplete checkpoint
    child.wait().unwrap();
    let expected = generated_reference(N, KEYS, EVENT_RATE, 1000);
    assert!(committed_lines(&p("out")).len() < expected.len(), "killed before its end");

    // list: the retained checkpoints and the stale lock.
    let listed = json(&weir(&server, &["checkpoints", "list", &chk, "--json"]));
    assert_eq!(listed["location"], chk.as_str(), "{listed}");
    assert_eq!(listed["lock"]["status"], "stale", "{listed}");
    let ids = complete_ids(&server, &chk);
    // Two are retained; a kill while the oldest was being deleted leaves a third.
    assert!((2..=3).contains(&ids.len()), "the retained checkpoints: {listed}");
    let last = *ids.last().unwrap();
    let row = listed["checkpoints"].as_array().unwrap().iter().find(|c| c["id"] == last).unwrap();
    assert!(row["full_size"].as_u64().unwrap() > 0 && row["problem"].is_null(), "{row}");
    let o = weir(&server, &["checkpoints", "list", &chk]);
    assert!(stdout(&o).contains(&format!("chk-{last} ")) && stdout(&o).contains("stale lock"), "{}", stdout(&o));

    // inspect: the job's operators with their files on S3.
    let chk_last = format!("{chk}/chk-{last}");
    let report = json(&weir(&server, &["checkpoints", "inspect", &chk_last, "--json"]));
    assert_eq!((report["checkpoint_id"].as_u64(), report["max_parallelism"].as_u64()), (Some(last), Some(128)));
    let window = report["operators"].as_array().unwrap().iter().find(|op| op["operator_id"] == "window-count").unwrap();
    let files: Vec<&Value> = window["subtasks"].as_array().unwrap().iter().flat_map(|st| st["files"].as_array().unwrap()).collect();
    assert!(files.iter().any(|f| f["shared"] == true), "RocksDB's SST files are shared: {report}");
    let o = weir(&server, &["checkpoints", "inspect", &chk_last]);
    assert!(stdout(&o).contains(&format!("checkpoint {last} of job \"windowed_count\" at {chk_last}")), "{}", stdout(&o));

    // verify: every file there with its size and checksum.
    let o = weir(&server, &["checkpoints", "verify", &chk_last]);
    assert!(o.status.success() && stdout(&o).contains(&format!("{chk_last}: OK,")), "{}{}", stdout(&o), stderr(&o));
    let o = weir(&server, &["checkpoints", "verify", &format!("{chk}/chk-999")]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(format!("{}{}", stdout(&o), stderr(&o)).contains(&format!("{chk}/chk-999")), "{}{}", stdout(&o), stderr(&o));

    // gc: refuses past the stale lock, then removes what no complete checkpoint references.
    let o = weir(&server, &["checkpoints", "gc", &chk]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("stale") && stderr(&o).contains("--force-stale"), "{}", stderr(&o));
    let o = weir(&server, &["checkpoints", "gc", &chk, "--force-stale", "--json"]);
    let deleted = json(&o)["files"].as_u64().unwrap();
    let again = json(&weir(&server, &["checkpoints", "gc", &chk, "--force-stale", "--dry-run", "--json"]));
    assert_eq!(again["files"].as_u64(), Some(0), "{deleted} deleted, nothing left: {again}");
    assert_eq!(complete_ids(&server, &chk), ids, "gc keeps every complete checkpoint");
    assert!(weir(&server, &["checkpoints", "verify", &chk_last]).status.success());

    // promote: into another prefix of the bucket, then into a local directory.
    let savepoint = server.url("tool/savepoints/sp-1");
    let o = weir(&server, &["checkpoints", "promote", &chk_last, &savepoint]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with(&format!("promoted checkpoint {last} from {chk_last} to {savepoint}: ")), "{}", stdout(&o));
    let o = weir(&server, &["checkpoints", "promote", &chk_last, &savepoint]);
    assert_eq!(o.status.code(), Some(1), "never overwrites a savepoint: {}", stdout(&o));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let local = p("savepoints/sp-1");
    assert!(weir(&server, &["checkpoints", "promote", &chk_last, local.to_str().unwrap()]).status.success());
    for promoted in [savepoint.as_str(), local.to_str().unwrap()] {
        let o = weir(&server, &["checkpoints", "verify", promoted]);
        assert!(o.status.success(), "{promoted}: {}", stdout(&o));
    }

    // The job restores from the savepoint on S3, to the reference output.
    let restore = format!("--checkpoint-interval 1s --from-checkpoint {savepoint} --state-dir {}", p("state-b").display());
    let o = windowed_count(&server, &job(N, "rocksdb", &server.url("tool/chk-b"), &p("out"), &restore)).output().unwrap();
    assert!(o.status.success(), "restore from {savepoint}: {}", stderr(&o));
    assert_eq!(committed_lines(&p("out")), expected);
}

/// Runs the job with `extra` flags and, once a checkpoint completed, stops
/// the server with SIGSTOP for 3 s at a time (1 s apart) until the job's log
/// shows `sign` (at most four times: what a stall hits depends on what is in
/// flight at that moment). Then lets the job run to its end and checks its
/// output, and that nothing is left behind. Returns the log.
fn stall_the_server_mid_run(server: &MotoServer, chk: &str, aws_timeout: Option<&str>, extra: &str, sign: &str) -> String {
    const N: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let (out, log) = (dir.path().join("out"), dir.path().join("job.log"));
    let args = job(N, "hashmap", chk, &out, &format!("--checkpoint-interval 100ms --rate 5000 {extra}"));
    let mut cmd = windowed_count(server, &args);
    if let Some(timeout) = aws_timeout {
        cmd.env("AWS_TIMEOUT", timeout);
    }
    let mut child = cmd.stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
    wait_until(&mut child, &log, "a checkpoint completes", || !complete_ids(server, chk).is_empty());
    let shows_sign = || std::fs::read_to_string(&log).unwrap_or_default().contains(sign);
    for stalls in 1..=4 {
        server.pause();
        std::thread::sleep(Duration::from_secs(3));
        server.resume();
        std::thread::sleep(Duration::from_secs(1));
        if shows_sign() || child.try_wait().unwrap().is_some() {
            eprintln!("{stalls} stall(s) of the server until the job's log showed {sign:?}");
            break;
        }
    }
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "the job failed: {status}: {log}");
    assert!(log.contains(sign), "the log shows {sign:?}: {log}");
    assert_eq!(committed_lines(&out), generated_reference(N, KEYS, EVENT_RATE, 1000));
    assert_eq!(garbage(server, chk), Vec::<String>::new(), "nothing left behind: {log}");
    log
}

#[test]
fn s3_server_stalled_for_seconds_mid_run_fails_no_job() {
    let server = MotoServer::start();
    // Requests that get no answer within 1 s are given up and sent again
    // (object_store logs "... backing off for ... seconds, retry ...").
    stall_the_server_mid_run(&server, &server.url("stall/chk"), Some("1s"), "", "backing off");
}

#[test]
fn s3_checkpoint_timed_out_while_the_server_stalls_is_aborted_and_leaves_nothing_behind() {
    let server = MotoServer::start();
    let log = stall_the_server_mid_run(&server, &server.url("timeout/chk"), None, "--checkpoint-timeout 1500ms", "timed out after");
    assert!(log.contains("checkpoint failed"), "{log}");
}
