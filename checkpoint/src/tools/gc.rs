//! `gc`: delete what no complete checkpoint needs.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{text, FileEntry};
use crate::error::CheckpointError;
use crate::lease::{JobLock, LockStatus, JOB_LOCK_FILE};
use crate::manifest::{parse_checkpoint_dir, CheckpointMetadata, METADATA_FILE, SHARED_DIR};
use crate::paths::join;
use crate::storage::CheckpointStorage;

/// Job name `gc` writes into the lock file while it deletes.
pub const GC_LOCK_NAME: &str = "weir checkpoints gc";

/// How [`gc`] runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcOptions {
    /// Only report what would be deleted.
    pub dry_run: bool,
    /// Proceed past a stale lock (left by a process that no longer runs) and remove it.
    pub force_stale: bool,
}

/// What [`gc`] deleted, or would delete with `dry_run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcReport {
    /// Full path or URL of the checkpoint directory.
    pub location: String,
    /// Whether nothing was deleted (the report says what would be).
    pub dry_run: bool,
    /// Number of files deleted.
    pub files: usize,
    /// Bytes freed: the sum of the deleted files' sizes as listed.
    pub bytes: u64,
    /// Every deleted file, root-relative, sorted.
    pub deleted: Vec<FileEntry>,
    /// Incomplete checkpoints (no `_metadata`) removed.
    pub incomplete_checkpoints: Vec<u64>,
    /// Complete checkpoints kept, with every file they reference.
    pub kept_checkpoints: Vec<u64>,
    /// The stale lock proceeded past (with `force_stale`), if any.
    pub stale_lock: Option<String>,
}

impl fmt::Display for GcReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run { "would delete" } else { "deleted" };
        writeln!(f, "{}: {verb} {}, {}", self.location, text::plural(self.files, "file"), text::bytes(self.bytes))?;
        if let Some(lock) = &self.stale_lock {
            writeln!(f, "  stale lock: {lock}")?;
        }
        let ids = |ids: &[u64]| {
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.iter().map(|id| format!("chk-{id}")).collect::<Vec<_>>().join(" ")
            }
        };
        writeln!(f, "  kept complete checkpoints: {}", ids(&self.kept_checkpoints))?;
        writeln!(f, "  incomplete checkpoints: {}", ids(&self.incomplete_checkpoints))?;
        for file in &self.deleted {
            writeln!(f, "  {}  {}", file.path, text::bytes(file.size))?;
        }
        Ok(())
    }
}

/// Deletes, under the storage root, every file in a `chk-<N>/` directory or in
/// `shared/` that no complete checkpoint references — which removes
/// incomplete checkpoints (no `_metadata`) and the leftovers of failed
/// uploads. Every complete checkpoint is kept whole, with its `_metadata` and
/// every file it references (including `../shared/` ones); files elsewhere
/// (the lock file, savepoints kept in the root, ...) are never touched.
///
/// Refuses with [`CheckpointError::LockHeld`] while the directory's lock (see
/// [`crate::lease`]) is live — a job may be writing a checkpoint that is not
/// complete yet — and with [`CheckpointError::StaleLock`] for a stale lock
/// unless [`GcOptions::force_stale`]. Holds the lock itself while deleting (not
/// for a dry run, which writes nothing). Refuses with
/// [`CheckpointError::UnknownReferences`] if a `_metadata` cannot be read.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use weir_checkpoint::tools::{self, GcOptions};
/// use weir_checkpoint::{CheckpointStorage, JobLock};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// # rt.block_on(async {
/// let storage = CheckpointStorage::in_memory();
/// storage.put("shared/op-0.3.x.sst", Bytes::from_static(b"orphan")).await?;
/// let lock = JobLock::acquire(&storage, "running-job").await?;
/// assert!(tools::gc(&storage, GcOptions::default()).await.is_err(), "a job is running");
/// lock.release().await?;
/// let dry = tools::gc(&storage, GcOptions { dry_run: true, ..GcOptions::default() }).await?;
/// assert_eq!((dry.files, dry.bytes), (1, 6));
/// assert!(storage.exists("shared/op-0.3.x.sst").await?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok(())
/// # }
/// ```
pub async fn gc(storage: &CheckpointStorage, options: GcOptions) -> Result<GcReport, CheckpointError> {
    let status = JobLock::inspect(storage).await?;
    let stale_lock = check_lock(&status, options.force_stale, &storage.describe(JOB_LOCK_FILE))?;
    let lock = if options.dry_run { None } else { Some(JobLock::acquire(storage, GC_LOCK_NAME).await?) };
    let collected = collect(storage, options.dry_run).await;
    if let Some(lock) = lock {
        lock.release().await?;
    }
    let mut report = collected?;
    report.stale_lock = stale_lock;
    Ok(report)
}

/// Whether `gc` may proceed given the lock found; `Ok(Some(holder))` when it
/// proceeds past a stale lock.
fn check_lock(status: &LockStatus, force_stale: bool, path: &str) -> Result<Option<String>, CheckpointError> {
    let holder = status.describe_holder();
    match holder {
        None => Ok(None),
        Some(holder) if status.is_live() => Err(CheckpointError::LockHeld { path: path.to_string(), holder }),
        Some(holder) if force_stale => Ok(Some(holder)),
        Some(holder) => Err(CheckpointError::StaleLock { path: path.to_string(), holder }),
    }
}

async fn collect(storage: &CheckpointStorage, dry_run: bool) -> Result<GcReport, CheckpointError> {
    let files = storage.list_files("").await?;
    let mut complete = Vec::new();
    for (path, _) in &files {
        let Some(dir) = path.strip_suffix(&format!("/{METADATA_FILE}")).filter(|d| parse_checkpoint_dir(d).is_some()) else {
            continue;
        };
        match storage.read_metadata(dir).await {
            Ok(meta) => complete.push((dir.to_string(), meta)),
            Err(e @ (CheckpointError::CorruptMetadata { .. } | CheckpointError::UnsupportedVersion { .. })) => {
                return Err(CheckpointError::UnknownReferences { source: Box::new(e) })
            }
            Err(e) => return Err(e),
        }
    }
    let plan = plan(&files, &complete);
    if !dry_run {
        for file in &plan.delete {
            storage.delete(&file.path).await?;
        }
    }
    Ok(GcReport {
        location: storage.describe(""),
        dry_run,
        files: plan.delete.len(),
        bytes: plan.delete.iter().map(|f| f.size).sum(),
        deleted: plan.delete,
        incomplete_checkpoints: plan.incomplete,
        kept_checkpoints: plan.kept,
        stale_lock: None,
    })
}

/// What to delete.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GcPlan {
    /// Files to delete, sorted by path.
    pub(crate) delete: Vec<FileEntry>,
    /// Ids of the incomplete checkpoints whose files go.
    pub(crate) incomplete: Vec<u64>,
    /// Ids of the complete checkpoints.
    pub(crate) kept: Vec<u64>,
}

/// The files under the root that `gc` deletes: in `chk-<N>/` or `shared/`,
/// and neither referenced by nor the `_metadata` of a `complete` checkpoint
/// (given as directory and metadata).
pub(crate) fn plan(files: &[(String, u64)], complete: &[(String, CheckpointMetadata)]) -> GcPlan {
    let mut keep: BTreeSet<String> = BTreeSet::new();
    for (dir, meta) in complete {
        keep.insert(join(dir, METADATA_FILE));
        keep.extend(crate::protocol::referenced_files_in(dir, meta));
    }
    let complete_dirs: BTreeSet<&str> = complete.iter().map(|(dir, _)| dir.as_str()).collect();
    let mut delete = Vec::new();
    let mut incomplete = BTreeSet::new();
    for (path, size) in files {
        let Some((first, _)) = path.split_once('/') else { continue };
        let checkpoint = parse_checkpoint_dir(first);
        if (first != SHARED_DIR && checkpoint.is_none()) || keep.contains(path) {
            continue;
        }
        if let Some(id) = checkpoint.filter(|_| !complete_dirs.contains(first)) {
            incomplete.insert(id);
        }
        delete.push(FileEntry { path: path.clone(), size: *size });
    }
    delete.sort_by(|a, b| a.path.cmp(&b.path));
    let mut kept: Vec<u64> = complete.iter().filter_map(|(dir, _)| parse_checkpoint_dir(dir)).collect();
    kept.sort_unstable();
    GcPlan { delete, incomplete: incomplete.into_iter().collect(), kept }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::LockInfo;
    use crate::manifest::{OperatorState, StateFile, SubtaskState, FORMAT_VERSION};

    fn meta(id: u64, paths: &[&str]) -> CheckpointMetadata {
        let files = paths
            .iter()
            .map(|p| StateFile { path: p.to_string(), size: 1, checksum: 0, key_group_offsets: vec![], inline_state: false })
            .collect();
        CheckpointMetadata {
            history: Vec::new(),
            format_version: FORMAT_VERSION,
            value_format: 2,
            checkpoint_id: id,
            job_name: "j".into(),
            timestamp_ms: 0,
            max_parallelism: 4,
            operators: vec![OperatorState {
                operator_id: "op".into(),
                parallelism: 1,
                subtasks: vec![SubtaskState { subtask: 0, key_groups: None, files, inline: None }],
            }],
        }
    }

    #[test]
    fn deletes_exactly_what_no_complete_checkpoint_references() {
        let files: Vec<(String, u64)> = [
            ("_job_lock", 1),
            ("chk-1/_metadata", 10),
            ("chk-1/own", 2),
            ("chk-1/orphan", 3),
            ("chk-2/_metadata", 20),
            ("chk-2/own", 4),
            ("chk-3/own", 5),
            ("chk-3/op-0/kept-by-2", 6),
            ("chk-x/whatever", 7),
            ("shared/a", 8),
            ("shared/b", 9),
            ("shared/op-0.3.c", 11),
            ("shared", 12),
            ("savepoints/sp/_metadata", 13),
        ]
        .iter()
        .map(|(p, s)| (p.to_string(), *s))
        .collect();
        let complete = vec![
            ("chk-1".to_string(), meta(1, &["own", "../shared/a"])),
            ("chk-2".to_string(), meta(2, &["own", "../shared/a", "../chk-3/op-0/kept-by-2"])),
        ];
        let plan = plan(&files, &complete);
        let deleted: Vec<(&str, u64)> = plan.delete.iter().map(|f| (f.path.as_str(), f.size)).collect();
        assert_eq!(deleted, vec![("chk-1/orphan", 3), ("chk-3/own", 5), ("shared/b", 9), ("shared/op-0.3.c", 11)]);
        assert_eq!(plan.incomplete, vec![3]);
        assert_eq!(plan.kept, vec![1, 2]);
    }

    #[test]
    fn lock_decisions() {
        let holder = LockInfo { pid: 1, hostname: "h".into(), start_time_ms: 0, job_name: "j".into() };
        let live = LockStatus::Live { holder: holder.clone() };
        let other = LockStatus::Unverifiable { holder: holder.clone() };
        let stale = LockStatus::Stale { holder };
        assert!(matches!(check_lock(&LockStatus::Free, false, "p"), Ok(None)));
        assert!(matches!(check_lock(&live, true, "p"), Err(CheckpointError::LockHeld { .. })));
        assert!(matches!(check_lock(&other, true, "p"), Err(CheckpointError::LockHeld { .. })));
        assert!(matches!(check_lock(&stale, false, "p"), Err(CheckpointError::StaleLock { .. })));
        assert!(matches!(check_lock(&stale, true, "p"), Ok(Some(_))));
        let unreadable = LockStatus::Unreadable { reason: "x".into() };
        assert!(matches!(check_lock(&unreadable, false, "p"), Err(CheckpointError::StaleLock { .. })));
    }
}
