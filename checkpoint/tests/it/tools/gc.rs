//! `tools::gc` scenarios.

use super::*;

on_both_backends!(
    gc_removes_exactly_the_unreferenced_files,
    gc_refuses_while_a_job_holds_the_lock,
    gc_proceeds_past_a_stale_lock_only_when_forced
);

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
