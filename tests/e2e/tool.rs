//! The `weir` tool against real checkpoint directories written by the
//! windowed_count example, with each state backend: list, inspect, verify,
//! gc (and the job lock it respects) and promote.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

const N: u64 = 40_000;
const KEYS: u64 = 50;
const EVENT_RATE: u64 = 10_000;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The windowed_count flags of these tests, checkpointing every 100 ms into `chk`.
fn job(backend: &str, chk: &Path, out: &Path, extra: &str) -> Vec<String> {
    argv(&format!(
        "--generate {N} --keys {KEYS} --event-rate {EVENT_RATE} --parallelism 2 --state-backend {backend} --checkpoint-dir {} \
         --checkpoint-interval 100ms --output {} {extra}",
        chk.display(),
        out.display()
    ))
}

/// Starts the job, its log going to `log`.
fn spawn_job(args: &[String], log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(windowed_count_bin()).args(args).env("RUST_LOG", "info").stdout(Stdio::null()).stderr(log).spawn().unwrap()
}

/// Polls `done` every 10 ms for up to a minute, failing if `child` ends first.
fn wait_until(child: &mut Child, what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(child.try_wait().unwrap().is_none(), "the job ended before {what}");
        assert!(started.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the job until two checkpoints completed, then stops it with SIGTERM
/// (a final checkpoint while windows are open, so that every operator has
/// state); leaves its retained checkpoints in `<dir>/chk`.
fn checkpoints_of_a_stopped_job(backend: &str, dir: &Path) -> PathBuf {
    let chk = dir.join("chk");
    let log = dir.join("job.log");
    let mut child = spawn_job(&job(backend, &chk, &dir.join("out"), "--rate 10000"), &log);
    wait_until(&mut child, "two checkpoints complete", || complete_checkpoints(&chk).len() >= 2);
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{backend}: {}", std::fs::read_to_string(&log).unwrap_or_default());
    assert!(!chk.join("_job_lock").exists(), "{backend}: a stopped job releases its lock");
    chk
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}{}", stdout(o), stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

fn size_on_disk(root: &Path, rel: &str) -> u64 {
    std::fs::metadata(root.join(rel)).unwrap().len()
}

/// Root-relative paths of the state files of `chk-<id>` (not `_metadata`), largest first.
fn state_files_by_size(chk: &Path, id: u64) -> Vec<String> {
    let mut files: Vec<String> = referenced_files(chk, id).into_iter().filter(|f| !f.ends_with("/_metadata")).collect();
    files.sort_by_key(|f| std::cmp::Reverse(size_on_disk(chk, f)));
    files
}

/// What is done to a copy of the checkpoint directory, and the problem `verify` must then report.
type Damage<'a> = (&'a str, &'a dyn Fn(&Path), String);

fn list_inspect_verify(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let chk = checkpoints_of_a_stopped_job(backend, dir.path());
    let ids = complete_checkpoints(&chk);
    assert_eq!(ids.len(), 2, "{backend}: two retained checkpoints");
    let on_disk = files_under(&chk);

    // list: every retained checkpoint, complete, with the sizes of the files on disk.
    let listed = json(&weir_tool(&["checkpoints", "list", s(&chk), "--json"]));
    let rows = listed["checkpoints"].as_array().unwrap();
    assert_eq!(rows.iter().map(|c| c["id"].as_u64().unwrap()).collect::<Vec<_>>(), ids, "{backend}: {listed}");
    assert_eq!(listed["lock"]["status"], "free");
    for (row, &id) in rows.iter().zip(&ids) {
        assert_eq!((row["complete"].as_bool(), row["problem"].as_str()), (Some(true), None), "{backend}: {row}");
        assert!(row["trigger_time_ms"].as_u64().unwrap() > 1_600_000_000_000);
        let full: u64 = referenced_files(&chk, id).iter().map(|f| size_on_disk(&chk, f)).sum();
        assert_eq!(row["full_size"].as_u64(), Some(full), "{backend}: chk-{id}");
        let written: u64 = on_disk
            .iter()
            .filter(|f| {
                f.starts_with(&format!("chk-{id}/"))
                    || f.strip_prefix("shared/").is_some_and(|name| name.split('.').nth(1) == Some(&id.to_string()))
            })
            .map(|f| size_on_disk(&chk, f))
            .sum();
        assert_eq!(row["incremental_size"].as_u64(), Some(written), "{backend}: chk-{id}");
    }
    let o = weir_tool(&["checkpoints", "list", s(&chk)]);
    let text = stdout(&o);
    assert!(o.status.success() && text.contains("2 checkpoint(s), 2 complete"), "{backend}: {text}");
    for id in &ids {
        let line = text.lines().find(|l| l.starts_with(&format!("chk-{id} "))).unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains("complete") && line.contains("triggered 20") && line.contains("Z,") && line.contains(" B"), "{line}");
    }

    // inspect: every file of _metadata, with its size and checksum.
    let last = *ids.last().unwrap();
    let chk_last = chk.join(format!("chk-{last}"));
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(chk_last.join("_metadata")).unwrap()).unwrap();
    let report = json(&weir_tool(&["checkpoints", "inspect", s(&chk_last), "--json"]));
    assert_eq!((report["checkpoint_id"].as_u64(), report["max_parallelism"].as_u64()), (Some(last), Some(128)));
    let files = |doc: &Value, f: &dyn Fn(&Value) -> String| -> BTreeSet<(String, String, u64, String)> {
        let mut out = BTreeSet::new();
        for op in doc["operators"].as_array().unwrap() {
            for st in op["subtasks"].as_array().unwrap() {
                for file in st["files"].as_array().unwrap() {
                    let op_id = op["operator_id"].as_str().unwrap().to_string();
                    out.insert((op_id, file["path"].as_str().unwrap().to_string(), file["size"].as_u64().unwrap(), f(file)));
                }
            }
        }
        out
    };
    let expected = files(&meta, &|f| format!("{:08x}", f["checksum"].as_u64().unwrap()));
    assert!(!expected.is_empty());
    assert_eq!(files(&report, &|f| f["checksum"].as_str().unwrap().to_string()), expected, "{backend}");
    let window = report["operators"].as_array().unwrap().iter().find(|op| op["operator_id"] == "window-count").unwrap();
    let ranges: Vec<(u64, u64)> = window["subtasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| (st["key_groups"]["start"].as_u64().unwrap(), st["key_groups"]["end"].as_u64().unwrap()))
        .collect();
    assert_eq!(ranges, vec![(0, 63), (64, 127)]);
    for file in window["subtasks"].as_array().unwrap().iter().flat_map(|st| st["files"].as_array().unwrap()) {
        let shared = file["path"].as_str().unwrap().starts_with("../shared/");
        assert_eq!(file["shared"].as_bool(), Some(shared), "{file}");
        let by = file["written_by"].as_u64().unwrap();
        assert!(if shared { by <= last } else { by == last }, "{file}");
    }
    let o = weir_tool(&["checkpoints", "inspect", s(&chk_last)]);
    assert!(o.status.success() && stdout(&o).contains("operator \"window-count\", parallelism 2"), "{}", stdout(&o));

    // verify: an intact checkpoint passes; each kind of damage fails, naming the file.
    let o = weir_tool(&["checkpoints", "verify", s(&chk_last)]);
    assert!(o.status.success() && stdout(&o).contains(": OK,"), "{backend}: {}{}", stdout(&o), stderr(&o));
    let victim = state_files_by_size(&chk, last)[0].clone();
    let damages: [Damage; 3] = [
        ("deleted", &|root: &Path| std::fs::remove_file(root.join(&victim)).unwrap(), format!("{victim}: missing")),
        (
            "flipped",
            &|root: &Path| {
                let mut bytes = std::fs::read(root.join(&victim)).unwrap();
                let middle = bytes.len() / 2;
                bytes[middle] ^= 0xff;
                std::fs::write(root.join(&victim), bytes).unwrap();
            },
            format!("{victim}: checksum mismatch"),
        ),
        (
            "truncated",
            &|root: &Path| {
                let path = root.join(format!("chk-{last}/_metadata"));
                let bytes = std::fs::read(&path).unwrap();
                std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
            },
            format!("chk-{last}/_metadata: unreadable"),
        ),
    ];
    for (what, damage, problem) in damages {
        let copy = dir.path().join(format!("damaged-{what}"));
        copy_dir(&chk, &copy);
        damage(&copy);
        let o = weir_tool(&["checkpoints", "verify", s(&copy.join(format!("chk-{last}")))]);
        assert_eq!(o.status.code(), Some(1), "{backend}, {what}: {}", stdout(&o));
        assert!(stdout(&o).contains(&problem), "{backend}, {what}: expected {problem:?} in {}", stdout(&o));
        assert!(stderr(&o).contains("is broken"), "{backend}, {what}: {}", stderr(&o));
    }
}

#[test]
fn tool_lists_inspects_and_verifies_real_checkpoints_hashmap() {
    list_inspect_verify("hashmap");
}

#[test]
fn tool_lists_inspects_and_verifies_real_checkpoints_rocksdb() {
    list_inspect_verify("rocksdb");
}

fn gc_removes_exactly_the_garbage(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let chk = checkpoints_of_a_stopped_job(backend, dir.path());
    let ids = complete_checkpoints(&chk);
    let last = *ids.last().unwrap();
    // An incomplete checkpoint (its files, no _metadata) and an orphaned shared file.
    let incomplete = last + 1;
    let mut garbage = BTreeSet::new();
    for file in state_files_by_size(&chk, last).iter().filter(|f| f.starts_with(&format!("chk-{last}/"))).take(2) {
        let copy = file.replacen(&format!("chk-{last}/"), &format!("chk-{incomplete}/"), 1);
        std::fs::create_dir_all(chk.join(&copy).parent().unwrap()).unwrap();
        std::fs::copy(chk.join(file), chk.join(&copy)).unwrap();
        garbage.insert(copy);
    }
    std::fs::create_dir_all(chk.join("shared")).unwrap();
    std::fs::write(chk.join(format!("shared/window-count-1.{incomplete}.000099.sst")), b"never referenced").unwrap();
    garbage.insert(format!("shared/window-count-1.{incomplete}.000099.sst"));
    let garbage_bytes: u64 = garbage.iter().map(|f| size_on_disk(&chk, f)).sum();
    let before = files_under(&chk);

    let dry = json(&weir_tool(&["checkpoints", "gc", s(&chk), "--dry-run", "--json"]));
    let deleted = |report: &Value| -> BTreeSet<String> {
        report["deleted"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(deleted(&dry), garbage, "{backend}");
    assert_eq!((dry["files"].as_u64(), dry["bytes"].as_u64()), (Some(garbage.len() as u64), Some(garbage_bytes)));
    assert_eq!(files_under(&chk), before, "{backend}: a dry run deletes nothing");
    let o = weir_tool(&["checkpoints", "gc", s(&chk), "--dry-run"]);
    assert!(stdout(&o).contains(&format!("would delete {} files", garbage.len())), "{}", stdout(&o));

    let o = weir_tool(&["checkpoints", "gc", s(&chk)]);
    assert!(o.status.success(), "{backend}: {}", stderr(&o));
    assert!(stdout(&o).contains(&format!("deleted {} files", garbage.len())), "{}", stdout(&o));
    let expected: Vec<String> = before.into_iter().filter(|f| !garbage.contains(f)).collect();
    assert_eq!(files_under(&chk), expected, "{backend}: exactly the garbage is gone");
    assert!(!chk.join(format!("chk-{incomplete}")).exists(), "{backend}: the incomplete checkpoint's directory is gone");
    for id in ids {
        assert!(weir_tool(&["checkpoints", "verify", s(&chk.join(format!("chk-{id}")))]).status.success(), "{backend}: chk-{id}");
    }
    let again = json(&weir_tool(&["checkpoints", "gc", s(&chk), "--json"]));
    assert_eq!(again["files"].as_u64(), Some(0));
}

#[test]
fn tool_gc_removes_an_incomplete_checkpoint_and_orphaned_shared_files_only_hashmap() {
    gc_removes_exactly_the_garbage("hashmap");
}

#[test]
fn tool_gc_removes_an_incomplete_checkpoint_and_orphaned_shared_files_only_rocksdb() {
    gc_removes_exactly_the_garbage("rocksdb");
}

#[test]
fn tool_gc_and_a_second_job_respect_a_running_jobs_lock() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let (chk, out) = (p("chk"), p("out"));
    let lock = chk.join("_job_lock");
    let state = format!("--state-dir {}", dir.path().join("state").display());
    let mut child = spawn_job(&job("hashmap", &chk, &out, &format!("--rate 2000 {state}")), &p("job.log"));
    wait_until(&mut child, "the lock file exists", || lock.exists());
    let pid = format!("pid {}", child.id());

    let flag_sets: [&[&str]; 3] = [&[], &["--dry-run"], &["--force-stale"]];
    for flags in flag_sets {
        let o = weir_tool(&[&["checkpoints", "gc", s(&chk)][..], flags].concat());
        assert_eq!(o.status.code(), Some(1), "gc {flags:?} refuses while a job runs: {}", stdout(&o));
        assert!(stderr(&o).contains("in use") && stderr(&o).contains(&pid), "{}", stderr(&o));
    }
    let o = weir_tool(&["checkpoints", "list", s(&chk)]);
    assert!(stdout(&o).contains(&format!("in use by job \"windowed_count\" ({pid} ")), "{}", stdout(&o));

    let second = run_windowed_count(&job("hashmap", &chk, &dir.path().join("out-2"), ""));
    assert!(!second.status.success(), "a second job on the same directory fails");
    let err = stderr(&second);
    assert!(err.contains(&format!("{}", lock.display())) && err.contains(&pid) && err.contains("in use"), "{err}");
    wait_until(&mut child, "a checkpoint completes", || !complete_checkpoints(&chk).is_empty());

    // SIGKILL leaves the lock behind, stale: gc needs --force-stale, the next job replaces it.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(lock.exists());
    let o = weir_tool(&["checkpoints", "gc", s(&chk)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("stale") && stderr(&o).contains("--force-stale"), "{}", stderr(&o));
    assert!(weir_tool(&["checkpoints", "gc", s(&chk), "--dry-run", "--force-stale"]).status.success());
    let o = run_windowed_count(&job("hashmap", &chk, &out, &format!("--from-checkpoint latest {state}")));
    assert!(o.status.success(), "the next job replaces a stale lock: {}", stderr(&o));
    assert!(!lock.exists(), "and releases it at its end");
    assert_eq!(committed_lines(&out), generated_reference(N, KEYS, EVENT_RATE, 1000));
}

fn promote_restores_like_the_original(backend: &str) {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let (chk, out) = (p("chk"), p("out"));
    let mut child = spawn_job(&job(backend, &chk, &out, &format!("--rate 10000 --state-dir {}", p("state").display())), &p("job.log"));
    wait_until(&mut child, "two checkpoints complete", || complete_checkpoints(&chk).len() >= 2);
    child.kill().unwrap();
    child.wait().unwrap();
    let id = *complete_checkpoints(&chk).last().unwrap();
    let source = chk.join(format!("chk-{id}"));
    let referenced = state_files_by_size(&chk, id);
    let bytes: u64 = referenced.iter().map(|f| size_on_disk(&chk, f)).sum();
    let expected = generated_reference(N, KEYS, EVENT_RATE, 1000);
    assert!(committed_lines(&out).len() < expected.len(), "{backend}: killed before its end");
    // Each restore starts from the output the killed job left.
    copy_dir(&out, &p("out-a"));
    copy_dir(&out, &p("out-b"));

    let dest = p("savepoints/sp-1");
    let o = weir_tool(&["checkpoints", "promote", s(&source), s(&dest)]);
    assert!(o.status.success(), "{backend}: {}", stderr(&o));
    let summary = format!("promoted checkpoint {id} from {} to {}: {} files, ", source.display(), dest.display(), referenced.len());
    assert!(stdout(&o).starts_with(&summary) && stdout(&o).contains(&format!("{bytes} B")), "{backend}: {}", stdout(&o));
    assert_eq!(files_under(&dest).len(), referenced.len() + 1, "{backend}: exactly the referenced files and _metadata");
    let o = weir_tool(&["checkpoints", "promote", s(&source), s(&dest)]);
    assert_eq!(o.status.code(), Some(1), "{backend}: never overwrites a savepoint");

    let restore = |from: &Path, name: &str| {
        let extra = format!("--from-checkpoint {} --state-dir {}", from.display(), p(&format!("state-{name}")).display());
        let o = run_windowed_count(&job(backend, &p(&format!("chk-{name}")), &p(&format!("out-{name}")), &extra));
        assert!(o.status.success(), "{backend}: restore {name}: {}", stderr(&o));
        committed_lines(&p(&format!("out-{name}")))
    };
    let from_original = restore(&source, "a");
    std::fs::remove_dir_all(&chk).unwrap();
    let o = weir_tool(&["checkpoints", "verify", s(&dest)]);
    assert!(o.status.success(), "{backend}: the savepoint is self-contained: {}", stdout(&o));
    let from_savepoint = restore(&dest, "b");
    assert_eq!(from_original, expected, "{backend}");
    assert_eq!(from_savepoint, expected, "{backend}");
}

#[test]
fn tool_promote_makes_a_self_contained_savepoint_that_restores_like_the_original_hashmap() {
    promote_restores_like_the_original("hashmap");
}

#[test]
fn tool_promote_makes_a_self_contained_savepoint_that_restores_like_the_original_rocksdb() {
    promote_restores_like_the_original("rocksdb");
}

#[test]
fn tool_bad_usage_exits_2_and_failures_exit_1() {
    assert_eq!(weir_tool(&["checkpoints", "frobnicate"]).status.code(), Some(2));
    assert_eq!(weir_tool(&["checkpoints", "list"]).status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let o = weir_tool(&["checkpoints", "list", s(&missing)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nothing-here") && stderr(&o).contains("no such directory"), "{}", stderr(&o));
    assert!(!missing.exists(), "the tool never creates a checkpoint directory");
    let o = weir_tool(&["checkpoints", "verify", s(dir.path())]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a checkpoint"), "{}", stderr(&o));
    let o = weir_tool(&["checkpoints", "inspect", "ftp://host/x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unsupported scheme"), "{}", stderr(&o));
}
