//! The `weir checkpoints` library: list, inspect, verify, gc and promote, each
//! on the in-memory store and on a local directory.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use weir_checkpoint::tools::{self, GcOptions, Problem};
use weir_checkpoint::{
    checksum, open_checkpoint, CheckpointError, CheckpointMetadata, CheckpointStorage, JobLock, KeyGroupRange, LockInfo, LockStatus,
    PendingCheckpoint, SharedFileName, StateFile, SubtaskState, JOB_LOCK_FILE,
};

/// A checkpoint root on one backend.
struct Env {
    storage: CheckpointStorage,
    /// The temporary directory and the root in it, for the local backend.
    local: Option<(tempfile::TempDir, PathBuf)>,
}

impl Env {
    fn memory() -> Self {
        Env { storage: CheckpointStorage::in_memory(), local: None }
    }

    fn local() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("job");
        let storage = CheckpointStorage::open(root.to_str().unwrap()).unwrap();
        Env { storage, local: Some((tmp, root)) }
    }

    /// Checks that `reported` names the root-relative file `rel` as users find it.
    fn assert_names(&self, reported: &str, rel: &str) {
        assert_eq!(reported, self.storage.describe(rel));
        if let Some((_, root)) = &self.local {
            assert_eq!(reported, root.join(rel).display().to_string());
        }
    }
}

/// Runs the scenario `$name(Env)` on both backends, as `$name::in_memory` and
/// `$name::local_file_system`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn in_memory() {
                super::$name(super::Env::memory()).await;
            }

            #[tokio::test]
            async fn local_file_system() {
                super::$name(super::Env::local()).await;
            }
        }
    )*};
}

on_both_backends!(
    list_sizes_are_exact,
    inspect_reports_every_file,
    verify_reports_every_damaged_file,
    verify_reports_unreadable_and_missing_metadata,
    gc_removes_exactly_the_unreferenced_files,
    gc_refuses_while_a_job_holds_the_lock,
    gc_proceeds_past_a_stale_lock_only_when_forced,
    promote_makes_a_self_contained_checkpoint,
);

const OP: &str = "window";
const A: &str = "shared/window-0.1.a.sst";
const B: &str = "shared/window-0.1.b.sst";
const C: &str = "shared/window-0.2.c.sst";
const D: &str = "shared/window-0.3.d.sst";
const E: &str = "shared/window-0.4.e.sst";
const ORPHAN: &str = "chk-3/orphan-upload";
const SAVEPOINT: &str = "savepoints/kept/_metadata";

fn private_content(id: u64) -> Bytes {
    Bytes::from(format!("window state of checkpoint {id}"))
}

fn sst_content(id: u64, name: &str) -> Bytes {
    Bytes::from(format!("sst {name} of checkpoint {id} {}", "x".repeat(usize::try_from(id).unwrap() * 10)))
}

/// Writes and completes checkpoint `id`: a source with inline state, and
/// instance 0 of `window` with a private file, shared files it uploads
/// (`new`, named as the runtime names them) and shared files of earlier
/// checkpoints it references (`reuse`, root-relative).
async fn write_chk(storage: &CheckpointStorage, id: u64, new: &[&str], reuse: &[&str]) -> CheckpointMetadata {
    let dir = CheckpointStorage::checkpoint_dir(id);
    let mut files = vec![storage.write_state_file(&dir, "op-window-0.state", private_content(id), vec![]).await.unwrap()];
    for name in new {
        let shared = format!("../shared/{}", SharedFileName::new(OP, 0, id, name));
        files.push(storage.write_state_file(&dir, &shared, sst_content(id, name), vec![]).await.unwrap());
    }
    for rel in reuse {
        let bytes = storage.get(rel).await.unwrap();
        let path = format!("../{rel}");
        files.push(StateFile { path, size: bytes.len() as u64, checksum: checksum(&bytes), key_group_offsets: vec![] });
    }
    let mut pending = PendingCheckpoint::new(id, 1_000 * id, [(0, 0), (1, 0)]);
    let source = SubtaskState { subtask: 0, key_groups: None, files: vec![], inline: Some(vec![1, 2, 3]) };
    pending.acknowledge((0, 0), vec![("source".into(), 1, source)]);
    let window = SubtaskState { subtask: 0, key_groups: Some(KeyGroupRange::new(0, 3)), files, inline: None };
    pending.acknowledge((1, 0), vec![(OP.into(), 1, window)]);
    let meta = pending.into_metadata("tools-job", 4);
    storage.write_metadata(&meta).await.unwrap();
    meta
}

/// Three complete incremental checkpoints (3 references shared files of 1
/// and 2), a leftover upload in chk-3, an incomplete chk-4 that uploaded a
/// private and a shared file, and a savepoint kept in the root.
async fn history(storage: &CheckpointStorage) {
    write_chk(storage, 1, &["a.sst", "b.sst"], &[]).await;
    write_chk(storage, 2, &["c.sst"], &[A]).await;
    write_chk(storage, 3, &["d.sst"], &[A, C]).await;
    storage.put(ORPHAN, Bytes::from_static(b"left by a failed upload")).await.unwrap();
    storage.write_state_file("chk-4", "op-window-0.state", private_content(4), vec![]).await.unwrap();
    storage.write_state_file("chk-4", &format!("../{E}"), sst_content(4, "e.sst"), vec![]).await.unwrap();
    storage.put(SAVEPOINT, Bytes::from_static(b"{}")).await.unwrap();
}

async fn sizes(storage: &CheckpointStorage) -> BTreeMap<String, u64> {
    storage.list_files("").await.unwrap().into_iter().collect()
}

fn sum(sizes: &BTreeMap<String, u64>, paths: &[&str]) -> u64 {
    paths.iter().map(|p| sizes.get(*p).copied().unwrap_or_else(|| panic!("{p} not found"))).sum()
}

// ---- list ----

async fn list_sizes_are_exact(env: Env) {
    let storage = &env.storage;
    assert!(tools::list(storage).await.unwrap().is_empty());
    history(storage).await;
    let s = sizes(storage).await;
    let (m1, m2, m3) = ("chk-1/_metadata", "chk-2/_metadata", "chk-3/_metadata");
    let (p1, p2, p3, p4) = ("chk-1/op-window-0.state", "chk-2/op-window-0.state", "chk-3/op-window-0.state", "chk-4/op-window-0.state");
    let got: Vec<_> = tools::list(storage)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.id, c.complete, c.trigger_time_ms, c.full_size, c.incremental_size))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, true, Some(1_000), Some(sum(&s, &[m1, p1, A, B])), sum(&s, &[m1, p1, A, B])),
            (2, true, Some(2_000), Some(sum(&s, &[m2, p2, A, C])), sum(&s, &[m2, p2, C])),
            (3, true, Some(3_000), Some(sum(&s, &[m3, p3, A, C, D])), sum(&s, &[m3, p3, ORPHAN, D])),
            (4, false, None, None, sum(&s, &[p4, E])),
        ]
    );
    // A broken _metadata is reported, not an error.
    let text = std::str::from_utf8(&storage.get(m2).await.unwrap()).unwrap().to_string();
    storage.put(m2, Bytes::from(text[..text.len() / 2].to_string())).await.unwrap();
    let listed = tools::list(storage).await.unwrap();
    assert_eq!((listed[1].complete, listed[1].full_size), (true, None));
    assert!(listed[1].problem.as_deref().unwrap().contains("truncated"), "{:?}", listed[1]);
    assert!(listed[1].to_string().starts_with("chk-2      broken"), "{}", listed[1]);
    let json = serde_json::to_value(&listed).unwrap();
    assert_eq!(json[0]["full_size"], sum(&s, &[m1, p1, A, B]));
}

// ---- inspect ----

async fn inspect_reports_every_file(env: Env) {
    let storage = &env.storage;
    history(storage).await;
    let report = tools::inspect(storage, "chk-3").await.unwrap();
    assert_eq!((report.job_name.as_str(), report.checkpoint_id, report.format_version, report.max_parallelism), ("tools-job", 3, 1, 4));
    assert_eq!(report.location, storage.describe("chk-3"));
    let ops: Vec<_> = report.operators.iter().map(|o| (o.operator_id.as_str(), o.parallelism, o.subtasks.len())).collect();
    assert_eq!(ops, vec![("source", 1, 1), ("window", 1, 1)]);
    assert_eq!(report.operators[0].subtasks[0].inline_size, 3);
    let window = &report.operators[1].subtasks[0];
    assert_eq!((window.key_groups, window.inline_size), (Some(KeyGroupRange::new(0, 3)), 0));
    let s = sizes(storage).await;
    let files: Vec<_> = window.files.iter().map(|f| (f.path.as_str(), f.size, f.written_by, f.shared)).collect();
    assert_eq!(
        files,
        vec![
            ("op-window-0.state", s["chk-3/op-window-0.state"], Some(3), false),
            ("../shared/window-0.3.d.sst", s[D], Some(3), true),
            ("../shared/window-0.1.a.sst", s[A], Some(1), true),
            ("../shared/window-0.2.c.sst", s[C], Some(2), true),
        ]
    );
    assert_eq!(window.files[2].checksum, format!("{:08x}", checksum(&storage.get(A).await.unwrap())));
    let text = report.to_string();
    assert!(text.contains("../shared/window-0.1.a.sst"), "{text}");
    assert!(text.contains("written by checkpoint 1, shared"), "{text}");

    // The checked-in fixture, copied into this backend.
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/chk-7");
    for name in ["_metadata", "op-window-0.state"] {
        storage.put(&format!("fixture/chk-7/{name}"), Bytes::from(std::fs::read(fixture.join(name)).unwrap())).await.unwrap();
    }
    let report = tools::inspect(storage, "fixture/chk-7").await.unwrap();
    assert_fixture_report(&report);
    assert!(tools::verify(storage, "fixture/chk-7").await.unwrap().is_ok());
}

fn assert_fixture_report(report: &tools::CheckpointReport) {
    assert_eq!((report.job_name.as_str(), report.checkpoint_id, report.format_version, report.max_parallelism), ("fixture-job", 7, 1, 8));
    assert_eq!(report.trigger_time_ms, 1_700_000_000_000);
    let source = &report.operators[0];
    assert_eq!((source.operator_id.as_str(), source.parallelism), ("source", 1));
    assert_eq!((source.subtasks[0].key_groups, source.subtasks[0].inline_size, source.subtasks[0].files.len()), (None, 4, 0));
    let window = &report.operators[1];
    assert_eq!((window.operator_id.as_str(), window.parallelism), ("window", 1));
    let st = &window.subtasks[0];
    assert_eq!((st.subtask, st.key_groups, st.inline_size), (0, Some(KeyGroupRange::new(0, 7)), 0));
    let files: Vec<_> = st.files.iter().map(|f| (f.path.as_str(), f.size, f.checksum.as_str(), f.written_by, f.shared)).collect();
    assert_eq!(files, vec![("op-window-0.state", 21, "3f3cad3b", Some(7), false)]);
    let text = report.to_string();
    for line in [
        "checkpoint 7 of job \"fixture-job\" at ",
        "  triggered      2023-11-14T22:13:20.000Z",
        "  operator \"window\", parallelism 1",
        "    subtask 0: key groups 0..=7, inline 0 B, 1 file, 21 B",
        "      op-window-0.state  21 B  crc32c 3f3cad3b  written by checkpoint 7",
    ] {
        assert!(text.contains(line), "{line:?} not in\n{text}");
    }
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(json["operators"][1]["subtasks"][0]["files"][0]["checksum"], "3f3cad3b");
    assert_eq!(json["operators"][1]["subtasks"][0]["key_groups"]["end"], 7);
}

#[tokio::test]
async fn inspect_the_checked_in_fixture_in_place() {
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1/chk-7");
    let (storage, dir) = open_checkpoint(fixture.to_str().unwrap()).unwrap();
    let report = tools::inspect(&storage, &dir).await.unwrap();
    assert_eq!(report.location, fixture.display().to_string());
    assert_fixture_report(&report);
}

// ---- verify ----

async fn verify_reports_every_damaged_file(env: Env) {
    let storage = &env.storage;
    history(storage).await;
    let healthy = tools::verify(storage, "chk-3").await.unwrap();
    assert!(healthy.is_ok(), "{healthy}");
    let s = sizes(storage).await;
    assert_eq!(
        (healthy.checkpoint_id, healthy.files_checked, healthy.bytes_checked),
        (Some(3), 4, sum(&s, &["chk-3/op-window-0.state", A, C, D]))
    );

    // A missing shared file, a flipped byte in the private file, a truncated shared file.
    storage.delete(C).await.unwrap();
    let private = "chk-3/op-window-0.state";
    let mut bytes = storage.get(private).await.unwrap().to_vec();
    bytes[3] ^= 0x20;
    storage.put(private, Bytes::from(bytes)).await.unwrap();
    let d = storage.get(D).await.unwrap();
    storage.put(D, d.slice(..d.len() - 5)).await.unwrap();

    let report = tools::verify(storage, "chk-3").await.unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.problems.len(), 3, "{report}");
    match &report.problems[0] {
        Problem::WrongChecksum { path, expected, actual } => {
            env.assert_names(path, private);
            assert_eq!(*expected, format!("{:08x}", checksum(&private_content(3))));
            assert_ne!(actual, expected);
        }
        other => panic!("{other}"),
    }
    match &report.problems[1] {
        Problem::WrongSize { path, expected, actual } => {
            env.assert_names(path, D);
            assert_eq!((*expected, *actual), (d.len() as u64, d.len() as u64 - 5));
        }
        other => panic!("{other}"),
    }
    assert_eq!(report.problems[2], Problem::Missing { path: storage.describe(C) });
    env.assert_names(report.problems[2].path(), C);
    let text = report.to_string();
    assert!(text.contains(": BROKEN, 3 files checked"), "{text}");
    assert!(text.contains(&format!("{}: missing", storage.describe(C))), "{text}");
    assert!(
        text.contains(&format!("{}: size mismatch (expected {} bytes, found {})", storage.describe(D), d.len(), d.len() - 5)),
        "{text}"
    );
    assert!(text.contains(&format!("{}: checksum mismatch", storage.describe(private))), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["problems"][2]["kind"], "missing");

    // Checkpoint 2 shares the missing file; checkpoint 1 is intact.
    let report = tools::verify(storage, "chk-2").await.unwrap();
    assert_eq!(report.problems, vec![Problem::Missing { path: storage.describe(C) }]);
    assert!(tools::verify(storage, "chk-1").await.unwrap().is_ok());
}

async fn verify_reports_unreadable_and_missing_metadata(env: Env) {
    let storage = &env.storage;
    history(storage).await;
    let metadata = "chk-2/_metadata";
    let bytes = storage.get(metadata).await.unwrap();
    storage.put(metadata, bytes.slice(..bytes.len() / 2)).await.unwrap();
    let report = tools::verify(storage, "chk-2").await.unwrap();
    assert_eq!(report.checkpoint_id, None);
    match report.problems.as_slice() {
        [Problem::MetadataUnreadable { path, reason }] => {
            env.assert_names(path, metadata);
            assert!(reason.contains("truncated"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    let report = tools::verify(storage, "chk-4").await.unwrap();
    assert_eq!(report.problems, vec![Problem::MetadataMissing { path: storage.describe("chk-4/_metadata") }]);

    // A _metadata copied into another checkpoint's directory.
    storage.put("chk-9/_metadata", storage.get("chk-1/_metadata").await.unwrap()).await.unwrap();
    let report = tools::verify(storage, "chk-9").await.unwrap();
    assert!(matches!(report.problems[0], Problem::WrongCheckpointId { expected: 9, found: 1, .. }), "{report}");
}

// ---- gc ----

async fn gc_removes_exactly_the_unreferenced_files(env: Env) {
    let storage = &env.storage;
    history(storage).await;
    // Checkpoint 1 is subsumed: its _metadata went first, and the cleanup stopped there.
    storage.delete("chk-1/_metadata").await.unwrap();
    let before = sizes(storage).await;
    let gone = ["chk-1/op-window-0.state", B, ORPHAN, "chk-4/op-window-0.state", E];

    let dry = tools::gc(storage, GcOptions { dry_run: true, force_stale: false }).await.unwrap();
    assert_eq!(sizes(storage).await, before, "a dry run deletes nothing");
    let mut expected: Vec<&str> = gone.to_vec();
    expected.sort_unstable();
    assert_eq!(dry.deleted.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), expected);
    assert_eq!((dry.files, dry.bytes), (5, sum(&before, &gone)));
    assert_eq!((dry.incomplete_checkpoints.clone(), dry.kept_checkpoints.clone()), (vec![1, 4], vec![2, 3]));
    assert!(dry.to_string().contains("would delete 5 files"), "{dry}");

    let report = tools::gc(storage, GcOptions::default()).await.unwrap();
    assert!(!report.dry_run);
    assert_eq!((report.files, report.bytes, &report.deleted), (dry.files, dry.bytes, &dry.deleted));
    let remaining: Vec<String> = sizes(storage).await.into_keys().collect();
    assert_eq!(
        remaining,
        vec!["chk-2/_metadata", "chk-2/op-window-0.state", "chk-3/_metadata", "chk-3/op-window-0.state", SAVEPOINT, A, C, D,]
    );
    for dir in ["chk-2", "chk-3"] {
        let verified = tools::verify(storage, dir).await.unwrap();
        assert!(verified.is_ok(), "{verified}");
    }
    assert_eq!(tools::list(storage).await.unwrap().iter().map(|c| c.id).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(JobLock::inspect(storage).await.unwrap(), LockStatus::Free, "gc released its lock");
    if let Some((_, root)) = &env.local {
        assert!(!root.join("chk-1").exists() && !root.join("chk-4").exists(), "emptied directories are gone");
    }

    let again = tools::gc(storage, GcOptions::default()).await.unwrap();
    assert_eq!((again.files, again.bytes), (0, 0));

    // A _metadata gc cannot read stops it: what it references is unknown.
    storage.put("chk-5/_metadata", Bytes::from_static(b"{\"format_version\": 1, \"checkp")).await.unwrap();
    storage.put("shared/window-0.5.f.sst", Bytes::from_static(b"maybe needed")).await.unwrap();
    let err = tools::gc(storage, GcOptions::default()).await.unwrap_err();
    assert!(matches!(err, CheckpointError::UnknownReferences { .. }), "{err}");
    assert!(err.to_string().contains(&storage.describe("chk-5/_metadata")), "{err}");
    assert!(storage.exists("shared/window-0.5.f.sst").await.unwrap());
}

async fn gc_refuses_while_a_job_holds_the_lock(env: Env) {
    let storage = &env.storage;
    history(storage).await;
    let before = sizes(storage).await;
    let lock = JobLock::acquire(storage, "tools-job").await.unwrap();
    assert_eq!(lock.info().pid, std::process::id());
    for options in [GcOptions::default(), GcOptions { dry_run: true, force_stale: true }] {
        let err = tools::gc(storage, options).await.unwrap_err();
        assert!(matches!(err, CheckpointError::LockHeld { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&storage.describe(JOB_LOCK_FILE)), "{msg}");
        assert!(msg.contains(&format!("job \"tools-job\" (pid {}", std::process::id())), "{msg}");
    }
    // A second job may not start either.
    let err = JobLock::acquire(storage, "second-job").await.unwrap_err();
    assert!(matches!(err, CheckpointError::LockHeld { .. }), "{err}");
    lock.release().await.unwrap();
    assert_eq!(sizes(storage).await, before, "nothing was deleted while locked");

    // A lock written by another running process of this host (pid 1 always runs).
    let other = LockInfo { pid: 1, ..LockInfo::current("init-job") };
    storage.put(JOB_LOCK_FILE, Bytes::from(serde_json::to_vec(&other).unwrap())).await.unwrap();
    assert!(matches!(JobLock::inspect(storage).await.unwrap(), LockStatus::Live { .. }));
    assert!(matches!(JobLock::acquire(storage, "j").await.unwrap_err(), CheckpointError::LockHeld { .. }));
    assert!(matches!(tools::gc(storage, GcOptions::default()).await.unwrap_err(), CheckpointError::LockHeld { .. }));

    // A lock from another host cannot be checked, so it counts as live.
    let elsewhere = LockInfo { hostname: "elsewhere.invalid".into(), ..LockInfo::current("remote-job") };
    storage.put(JOB_LOCK_FILE, Bytes::from(serde_json::to_vec(&elsewhere).unwrap())).await.unwrap();
    assert!(matches!(JobLock::inspect(storage).await.unwrap(), LockStatus::Unverifiable { .. }));
    let err = tools::gc(storage, GcOptions { dry_run: false, force_stale: true }).await.unwrap_err();
    assert!(err.to_string().contains("elsewhere.invalid"), "{err}");
    assert_eq!(sizes(storage).await.len(), before.len() + 1, "only the lock file was added");

    // Our own pid, but not a lock this process holds: a leftover of an
    // earlier process with the same pid, which a new job replaces.
    let leftover = LockInfo { start_time_ms: 1, ..LockInfo::current("earlier-run") };
    storage.put(JOB_LOCK_FILE, Bytes::from(serde_json::to_vec(&leftover).unwrap())).await.unwrap();
    assert!(matches!(tools::gc(storage, GcOptions::default()).await.unwrap_err(), CheckpointError::LockHeld { .. }));
    let lock = JobLock::acquire(storage, "restarted").await.unwrap();
    assert_eq!(JobLock::inspect(storage).await.unwrap(), LockStatus::Live { holder: lock.info().clone() });
    lock.release().await.unwrap();
    assert_eq!(JobLock::inspect(storage).await.unwrap(), LockStatus::Free);
}

/// The pid of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

async fn gc_proceeds_past_a_stale_lock_only_when_forced(env: Env) {
    let storage = &env.storage;
    history(storage).await;
    let stale = LockInfo { pid: dead_pid(), ..LockInfo::current("crashed-job") };
    storage.put(JOB_LOCK_FILE, Bytes::from(serde_json::to_vec(&stale).unwrap())).await.unwrap();
    assert_eq!(JobLock::inspect(storage).await.unwrap(), LockStatus::Stale { holder: stale.clone() });

    let err = tools::gc(storage, GcOptions::default()).await.unwrap_err();
    assert!(matches!(err, CheckpointError::StaleLock { .. }), "{err}");
    assert!(err.to_string().contains("no longer runs"), "{err}");
    assert!(storage.exists(E).await.unwrap());

    let dry = tools::gc(storage, GcOptions { dry_run: true, force_stale: true }).await.unwrap();
    assert!(dry.stale_lock.as_deref().unwrap().contains("crashed-job"), "{dry:?}");
    assert_eq!(JobLock::inspect(storage).await.unwrap(), LockStatus::Stale { holder: stale.clone() }, "a dry run writes nothing");

    let report = tools::gc(storage, GcOptions { dry_run: false, force_stale: true }).await.unwrap();
    assert_eq!((report.files, report.bytes), (dry.files, dry.bytes));
    assert_eq!(report.files, 3, "{report}"); // the orphan, and chk-4's two files
    assert!(!storage.exists(E).await.unwrap());
    assert_eq!(JobLock::inspect(storage).await.unwrap(), LockStatus::Free, "the stale lock was replaced and released");

    // A job replaces a stale lock without being asked.
    storage.put(JOB_LOCK_FILE, Bytes::from(serde_json::to_vec(&stale).unwrap())).await.unwrap();
    let lock = JobLock::acquire(storage, "new-job").await.unwrap();
    assert_eq!(lock.info().job_name, "new-job");
    lock.release().await.unwrap();
    // And so is a lock file that is not a lock document.
    storage.put(JOB_LOCK_FILE, Bytes::from_static(b"garbage")).await.unwrap();
    assert!(JobLock::inspect(storage).await.unwrap().is_stale());
    JobLock::acquire(storage, "new-job").await.unwrap().release().await.unwrap();
}

// ---- promote ----

/// Every file of the checkpoint in `dir`, by recorded path, read and checked.
async fn contents(storage: &CheckpointStorage, dir: &str) -> Vec<Bytes> {
    let meta = storage.read_metadata(dir).await.unwrap();
    let mut out = Vec::new();
    for file in meta.files() {
        out.push(storage.read_state_file(dir, file).await.unwrap());
    }
    out
}

async fn promote_makes_a_self_contained_checkpoint(env: Env) {
    // Source and destinations share one object store, so the store copies.
    let (src, same_store_dest, reopen) = match &env.local {
        None => {
            let store: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
            (
                CheckpointStorage::from_store(store.clone(), "job"),
                CheckpointStorage::from_store(store.clone(), "savepoints/promoted"),
                CheckpointStorage::from_store(store, "savepoints"),
            )
        }
        Some((tmp, _)) => {
            let store: Arc<dyn object_store::ObjectStore> =
                Arc::new(object_store::local::LocalFileSystem::new_with_prefix(tmp.path()).unwrap());
            (
                CheckpointStorage::from_store(store.clone(), "job"),
                CheckpointStorage::from_store(store.clone(), "savepoints/promoted"),
                CheckpointStorage::from_store(store, "savepoints"),
            )
        }
    };
    history(&src).await;
    let original = src.read_metadata("chk-3").await.unwrap();
    let original_contents = contents(&src, "chk-3").await;
    // The other destination is a store of its own: files stream through this process.
    let separate_dest = match &env.local {
        None => CheckpointStorage::in_memory(),
        Some((tmp, _)) => CheckpointStorage::open(tmp.path().join("elsewhere/promoted").to_str().unwrap()).unwrap(),
    };
    for (dest, store_side) in [(&same_store_dest, true), (&separate_dest, false)] {
        let report = tools::promote(&src, "chk-3", dest).await.unwrap();
        assert_eq!((report.checkpoint_id, report.store_side_copy), (3, store_side));
        let s = sizes(&src).await;
        assert_eq!((report.files, report.bytes), (4, sum(&s, &["chk-3/op-window-0.state", A, C, D])));
        let dest_files: Vec<String> = sizes(dest).await.into_keys().collect();
        assert_eq!(
            dest_files,
            vec!["_metadata", "op-window-0.state", "window-0/window-0.1.a.sst", "window-0/window-0.2.c.sst", "window-0/window-0.3.d.sst"]
        );
        let meta = dest.read_metadata("").await.unwrap();
        assert!(meta.files().all(|f| !f.path.starts_with("..")), "{meta:?}");
        let verified = tools::verify(dest, "").await.unwrap();
        assert!(verified.is_ok(), "{verified}");
        // Into a directory that holds a checkpoint: refused, nothing changed.
        let err = tools::promote(&src, "chk-3", dest).await.unwrap_err();
        assert!(matches!(err, CheckpointError::DestinationExists { .. }), "{err}");
        assert!(err.to_string().contains(&dest.describe("_metadata")), "{err}");
        // Its files were written by the checkpoints that first uploaded them.
        let by: Vec<_> =
            tools::inspect(dest, "").await.unwrap().operators[1].subtasks[0].files.iter().map(|f| (f.written_by, f.shared)).collect();
        assert_eq!(by, vec![(Some(3), false), (Some(3), false), (Some(1), false), (Some(2), false)]);
    }

    // Delete the source entirely; the promoted checkpoints restore alone.
    for (path, _) in src.list_files("").await.unwrap() {
        src.delete(&path).await.unwrap();
    }
    assert!(src.list_files("").await.unwrap().is_empty());
    let restored = reopen.read_metadata("promoted").await.unwrap();
    assert_eq!((restored.checkpoint_id, &restored.job_name, &restored.operators[0]), (3, &original.job_name, &original.operators[0]));
    assert_eq!(contents(&reopen, "promoted").await, original_contents);
    assert_eq!(contents(&separate_dest, "").await, original_contents);
    if let Some((tmp, _)) = &env.local {
        for dir in [tmp.path().join("savepoints/promoted"), tmp.path().join("elsewhere/promoted")] {
            let (storage, name) = open_checkpoint(dir.to_str().unwrap()).unwrap();
            assert_eq!(contents(&storage, &name).await, original_contents);
            assert!(tools::verify(&storage, &name).await.unwrap().is_ok());
        }
    }
}

#[tokio::test]
async fn promote_streams_large_files_and_checks_them_on_the_way() {
    let tmp = tempfile::tempdir().unwrap();
    let src = CheckpointStorage::open(tmp.path().join("job").to_str().unwrap()).unwrap();
    let big: Vec<u8> = (0..9u32 << 20).map(|i| (i % 251) as u8).collect();
    let dir = CheckpointStorage::checkpoint_dir(1);
    let file = src.write_state_file(&dir, "../shared/window-0.1.big.sst", Bytes::from(big.clone()), vec![]).await.unwrap();
    let mut pending = PendingCheckpoint::new(1, 1, [(0, 0)]);
    let state = SubtaskState { subtask: 0, key_groups: Some(KeyGroupRange::new(0, 3)), files: vec![file.clone()], inline: None };
    pending.acknowledge((0, 0), vec![(OP.into(), 1, state)]);
    src.write_metadata(&pending.into_metadata("big-job", 4)).await.unwrap();

    let dest = CheckpointStorage::in_memory();
    let report = tools::promote(&src, "chk-1", &dest).await.unwrap();
    assert_eq!((report.files, report.bytes, report.store_side_copy), (1, big.len() as u64, false));
    assert!(tools::verify(&dest, "").await.unwrap().is_ok());
    assert_eq!(dest.get("window-0/window-0.1.big.sst").await.unwrap(), Bytes::from(big.clone()));

    // A damaged source is caught while streaming; the destination gets no checkpoint.
    let mut damaged = big;
    damaged[5 << 20] ^= 1;
    src.put("shared/window-0.1.big.sst", Bytes::from(damaged)).await.unwrap();
    let dest = CheckpointStorage::in_memory();
    let err = tools::promote(&src, "chk-1", &dest).await.unwrap_err();
    assert!(matches!(err, CheckpointError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().contains(&tmp.path().join("job/shared/window-0.1.big.sst").display().to_string()), "{err}");
    assert!(dest.list_files("").await.unwrap().is_empty());
}
