//! The checkpoint lifecycle end to end: a savepoint has no side effects, and
//! a crash at every step of the lifecycle (fail points) loses and duplicates
//! nothing, with each state backend. After each crash, `weir checkpoints gc
//! --dry-run` finds only what the next start removes, and nothing once the
//! job has run to its end.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::*;
use crate::control::Job;

const N: u64 = 60_000;
const KEYS: u64 = 100;
const EVENT_RATE: u64 = 10_000;

struct Dirs {
    _tmp: tempfile::TempDir,
    out: std::path::PathBuf,
    chk: std::path::PathBuf,
    sp: std::path::PathBuf,
    root: std::path::PathBuf,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    Dirs { out: root.join("out"), chk: root.join("chk"), sp: root.join("sp"), root, _tmp: tmp }
}

fn args(d: &Dirs, backend: &str, interval: &str, rate: u64) -> Vec<String> {
    argv(&format!(
        "--generate {N} --keys {KEYS} --event-rate {EVENT_RATE} --rate {rate} --parallelism 2 --output {} --checkpoint-dir {} \
         --checkpoint-interval {interval} --retained-checkpoints 1 --from-checkpoint latest --state-backend {backend} --savepoint-dir {}",
        d.out.display(),
        d.chk.display(),
        d.sp.display()
    ))
}

fn reference() -> Vec<String> {
    generated_reference(N, KEYS, EVENT_RATE, 1000)
}

/// Runs the job from `latest` to its end and checks the output is the reference.
fn finish(d: &Dirs, backend: &str, what: &str) {
    let o = run_windowed_count(&args(d, backend, "200ms", 200_000));
    assert!(o.status.success(), "{what}: the resumed job failed: {}", stderr(&o));
    assert_eq!(committed_lines(&d.out), reference(), "{what}: the output is not the reference");
    let leftovers: Vec<_> = std::fs::read_dir(d.out.join(".inprogress")).unwrap().collect();
    assert!(leftovers.is_empty(), "{what}: in-progress output left behind: {leftovers:?}");
}

/// The root-relative files `weir checkpoints gc --dry-run` would delete in `dir`.
fn gc_would_delete(dir: &Path) -> Vec<String> {
    let o = weir_tool(&["checkpoints", "gc", dir.to_str().unwrap(), "--dry-run", "--force-stale", "--json"]);
    assert!(o.status.success(), "gc --dry-run failed: {}", stderr(&o));
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    report["deleted"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect()
}

fn savepoint_then_sigkill_then_latest(backend: &str, checkpoint_first: bool) {
    let d = dirs();
    let what = format!("{backend}, checkpoint first: {checkpoint_first}");
    // No periodic checkpoint: only those asked for. At 10 000 events/s the
    // input lasts 6 s, long enough for both requests on a busy machine.
    let mut job = Job::start(&d.root, &args(&d, backend, "1h", 10_000));
    std::thread::sleep(std::time::Duration::from_millis(300));
    if checkpoint_first {
        let (status, body) = job.post("/checkpoints", "");
        assert_eq!(status, 200, "{what}: {body}");
    }
    let (status, body) = job.post("/savepoints", &format!(r#"{{"dir": "{}"}}"#, d.sp.display()));
    assert_eq!(status, 200, "{what}: {body}");
    assert!(job.child.try_wait().unwrap().is_none(), "{what}: the job ended before the kill");
    job.child.kill().unwrap(); // SIGKILL, before any other checkpoint
    job.child.wait().unwrap();
    let expected = reference();
    let committed = committed_lines(&d.out);
    assert!(committed.iter().all(|l| expected.binary_search(l).is_ok()), "{what}: only final results are committed");
    if !checkpoint_first {
        assert!(committed.is_empty(), "{what}: the savepoint committed output: {} lines", committed.len());
    }
    finish(&d, backend, &what);
}

#[test]
fn a_savepoint_commits_nothing_so_latest_after_a_kill_duplicates_nothing() {
    for backend in BACKENDS {
        for checkpoint_first in [false, true] {
            savepoint_then_sigkill_then_latest(backend, checkpoint_first);
        }
    }
}

/// Runs the job until the fail point `point` aborts it, then checks gc, resumes and checks again.
fn crash_at(point: &str, backend: &str) {
    let d = dirs();
    let what = format!("{point}, {backend}");
    let o = Command::new(windowed_count_bin())
        .args(args(&d, backend, "200ms", 20_000))
        .env("RUST_LOG", "info")
        .env("WEIR_FAIL_POINT", point)
        .output()
        .unwrap();
    let name = point.split(':').next().unwrap();
    assert!(!o.status.success(), "{what}: the job was not stopped by its fail point: {}", stderr(&o));
    assert!(stderr(&o).contains(&format!("fail point {name} reached")), "{what}: {}", stderr(&o));
    after_crash(&d, backend, &what);
}

fn after_crash(d: &Dirs, backend: &str, what: &str) {
    let stale = gc_would_delete(&d.chk);
    finish(d, backend, what);
    for path in &stale {
        assert!(!d.chk.join(path).exists(), "{what}: gc found {path}, and the next start did not remove it");
    }
    assert_eq!(gc_would_delete(&d.chk), Vec::<String>::new(), "{what}: files no checkpoint references");
}

fn crash_at_every_step(backend: &str) {
    for point in ["task-uploaded:5", "metadata-written:2", "sink-committed:3", "retention-deleting"] {
        crash_at(point, backend);
    }
    // While a savepoint is written.
    let d = dirs();
    let job = Job::start_with_env(&d.root, &args(&d, backend, "200ms", 20_000), &[("WEIR_FAIL_POINT", "savepoint-uploaded")]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let answer = job.client.post("/savepoints", &format!(r#"{{"dir": "{}"}}"#, d.sp.display()));
    assert!(answer.map(|r| !r.is_success()).unwrap_or(true), "the savepoint completed although the job crashed writing it");
    let mut job = job;
    let status = job.child.wait().unwrap();
    assert!(!status.success());
    let log = std::fs::read_to_string(&job.stderr).unwrap();
    assert!(log.contains("fail point savepoint-uploaded reached"), "{log}");
    after_crash(&d, backend, &format!("savepoint-uploaded, {backend}"));
}

#[test]
fn a_crash_at_every_step_of_the_lifecycle_loses_and_duplicates_nothing_hashmap() {
    crash_at_every_step("hashmap");
}

#[test]
fn a_crash_at_every_step_of_the_lifecycle_loses_and_duplicates_nothing_rocksdb() {
    crash_at_every_step("rocksdb");
}

/// A crash in the middle of deleting a claimed checkpoint.
fn crash_while_deleting_a_claimed_checkpoint(backend: &str) {
    let d = dirs();
    // A first job, stopped by a kill, leaves checkpoints in `first`.
    let first = d.root.join("first");
    let mut a = args(&d, backend, "200ms", 20_000);
    let at = a.iter().position(|x| x == "--checkpoint-dir").unwrap();
    a[at + 1] = first.to_str().unwrap().to_string();
    let o = Command::new(windowed_count_bin()).args(&a).env("WEIR_FAIL_POINT", "metadata-written:4").output().unwrap();
    assert!(!o.status.success(), "{}", stderr(&o));
    let restored = *complete_checkpoints(&first).last().expect("the first job completed a checkpoint");
    let from = first.join(format!("chk-{restored}"));
    // The second job claims it, and dies while deleting it.
    let mut b = args(&d, backend, "200ms", 20_000);
    let at = b.iter().position(|x| x == "--from-checkpoint").unwrap();
    b[at + 1] = from.to_str().unwrap().to_string();
    b.extend(["--restore-mode".to_string(), "claim".to_string()]);
    let o = Command::new(windowed_count_bin()).args(&b).env("RUST_LOG", "info").env("WEIR_FAIL_POINT", "claim-deleting").output().unwrap();
    assert!(stderr(&o).contains("fail point claim-deleting reached"), "{}", stderr(&o));
    assert!(!from.join("_metadata").exists(), "the claimed checkpoint is no longer complete");
    after_crash(&d, backend, &format!("claim-deleting, {backend}"));
}

#[test]
fn a_crash_while_deleting_a_claimed_checkpoint_loses_and_duplicates_nothing() {
    for backend in BACKENDS {
        crash_while_deleting_a_claimed_checkpoint(backend);
    }
}
