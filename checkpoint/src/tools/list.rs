//! `list`: every checkpoint directory under the root, with its sizes.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{referenced_sizes, text, written_by};
use crate::error::CheckpointError;
use crate::manifest::{parse_checkpoint_dir, CheckpointMetadata, METADATA_FILE, SHARED_DIR};
use crate::paths::join;
use crate::storage::CheckpointStorage;

/// One `chk-<N>` directory, as [`list`] finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSummary {
    /// The checkpoint id from the directory name.
    pub id: u64,
    /// The directory, relative to the root (`chk-<N>`).
    pub dir: String,
    /// Whether its `_metadata` exists (even if it cannot be read: see `problem`).
    pub complete: bool,
    /// Trigger time from `_metadata`, ms since the Unix epoch; `None` if
    /// there is no readable `_metadata`.
    pub trigger_time_ms: Option<u64>,
    /// Bytes needed to restore it: every file it references (as recorded in
    /// `_metadata`, each file once, wherever it lies) plus the `_metadata`
    /// itself; `None` if there is no readable `_metadata`.
    pub full_size: Option<u64>,
    /// Bytes this checkpoint wrote itself: every file under its own `chk-<N>/`
    /// (including `_metadata`) plus the files in `shared/` whose name says
    /// checkpoint `N` uploaded them, as found in storage.
    pub incremental_size: u64,
    /// What is wrong with its `_metadata`, if anything.
    pub problem: Option<String>,
    /// Its figures (trigger to `_metadata` written, bytes written, phases),
    /// as its `_metadata` keeps them; `None` for checkpoints written before
    /// `_metadata` kept them.
    #[serde(default)]
    pub stats: Option<crate::SnapshotStats>,
}

impl fmt::Display for CheckpointSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (self.complete, &self.problem) {
            (_, Some(_)) => "broken",
            (true, None) => "complete",
            (false, None) => "incomplete",
        };
        write!(f, "{:<10} {state:<10}", self.dir)?;
        if let Some(ms) = self.trigger_time_ms {
            write!(f, " triggered {},", crate::utc::format_ms(ms))?;
        }
        if let Some(full) = self.full_size {
            write!(f, " full {},", text::bytes(full))?;
        }
        if let Some(s) = &self.stats {
            write!(
                f,
                " took {} ms (sync {}, async {}, alignment {}), wrote {},",
                s.duration_ms,
                s.sync_ms,
                s.async_ms,
                s.alignment_ms,
                text::bytes(s.bytes_written)
            )?;
        }
        write!(f, " incremental {}", text::bytes(self.incremental_size))?;
        if let Some(problem) = &self.problem {
            write!(f, ": {problem}")?;
        }
        Ok(())
    }
}

/// Every `chk-<N>` directory under the root, sorted by id, with trigger time
/// and sizes (see [`CheckpointSummary`]).
///
/// A `_metadata` that cannot be read makes that entry's `problem`, not an
/// error; storage failures are errors.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use weir_checkpoint::{tools, CheckpointStorage};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// # rt.block_on(async {
/// let storage = CheckpointStorage::in_memory();
/// storage.put("chk-4/op-0/x", Bytes::from_static(b"abc")).await?;
/// let summary = &tools::list(&storage).await?[0];
/// assert_eq!((summary.id, summary.complete, summary.full_size, summary.incremental_size), (4, false, None, 3));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok(())
/// # }
/// ```
pub async fn list(storage: &CheckpointStorage) -> Result<Vec<CheckpointSummary>, CheckpointError> {
    let files = storage.list_files("").await?;
    let mut metas = BTreeMap::new();
    for dir in checkpoint_dirs(&files).into_iter().filter(|(_, complete)| *complete).map(|(dir, _)| dir) {
        let meta = match storage.read_metadata(&dir).await {
            Ok(meta) => Ok(meta),
            Err(e @ (CheckpointError::CorruptMetadata { .. } | CheckpointError::UnsupportedVersion { .. })) => Err(e.to_string()),
            // Deleted between listing and reading.
            Err(CheckpointError::NotACheckpoint { .. }) => continue,
            Err(e) => return Err(e),
        };
        metas.insert(dir, meta);
    }
    Ok(summarize(&files, &metas))
}

/// `chk-<N>` directories holding files, and whether each holds a `_metadata`.
fn checkpoint_dirs(files: &[(String, u64)]) -> BTreeMap<String, bool> {
    let mut dirs = BTreeMap::new();
    for (path, _) in files {
        if let Some((first, rest)) = path.split_once('/') {
            if parse_checkpoint_dir(first).is_some() {
                *dirs.entry(first.to_string()).or_insert(false) |= rest == METADATA_FILE;
            }
        }
    }
    dirs
}

/// The summaries, from the root's files and the `_metadata` of each complete
/// directory (or why it cannot be read).
pub(crate) fn summarize(files: &[(String, u64)], metas: &BTreeMap<String, Result<CheckpointMetadata, String>>) -> Vec<CheckpointSummary> {
    let sizes: BTreeMap<&str, u64> = files.iter().map(|(p, s)| (p.as_str(), *s)).collect();
    // Who references each shared file, so its name is parsed with that context.
    let owners: BTreeMap<String, (&str, u32)> = metas
        .iter()
        .filter_map(|(dir, meta)| Some((dir, meta.as_ref().ok()?)))
        .flat_map(|(dir, meta)| {
            meta.operators.iter().flat_map(move |op| {
                op.subtasks.iter().flat_map(move |st| {
                    st.files
                        .iter()
                        .filter_map(move |f| Some((crate::protocol::root_relative(dir, &f.path)?, (op.operator_id.as_str(), st.subtask))))
                })
            })
        })
        .collect();
    let mut written: BTreeMap<u64, u64> = BTreeMap::new();
    for (path, size) in files {
        // Only what checkpoints write: `chk-<N>/` and `shared/` (not savepoints kept in the root).
        let first = path.split('/').next().unwrap_or_default();
        if first != SHARED_DIR && parse_checkpoint_dir(first).is_none() {
            continue;
        }
        if let Some(id) = written_by(path, owners.get(path).copied()) {
            *written.entry(id).or_default() += size;
        }
    }
    let mut summaries: Vec<CheckpointSummary> = checkpoint_dirs(files)
        .into_iter()
        .filter_map(|(dir, complete)| {
            let id = parse_checkpoint_dir(&dir)?;
            let mut summary = CheckpointSummary {
                id,
                dir: dir.clone(),
                complete,
                trigger_time_ms: None,
                full_size: None,
                incremental_size: written.get(&id).copied().unwrap_or(0),
                problem: None,
                stats: None,
            };
            match metas.get(&dir) {
                Some(Ok(meta)) => {
                    let metadata_size = sizes.get(join(&dir, METADATA_FILE).as_str()).copied().unwrap_or(0);
                    summary.trigger_time_ms = Some(meta.timestamp_ms);
                    summary.stats = meta.history.iter().rev().find(|h| h.id == meta.checkpoint_id).cloned();
                    summary.full_size = Some(metadata_size + referenced_sizes(&dir, meta).values().sum::<u64>());
                    if meta.checkpoint_id != id {
                        summary.problem = Some(format!("its _metadata belongs to checkpoint {}", meta.checkpoint_id));
                    }
                }
                Some(Err(reason)) => summary.problem = Some(reason.clone()),
                None => {}
            }
            Some(summary)
        })
        .collect();
    summaries.sort_by_key(|s| s.id);
    summaries
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{OperatorState, StateFile, SubtaskState, FORMAT_VERSION};

    fn meta(id: u64, files: &[(&str, u64)]) -> CheckpointMetadata {
        let files = files
            .iter()
            .map(|(p, s)| StateFile { path: p.to_string(), size: *s, checksum: 0, key_group_offsets: vec![], inline_state: false })
            .collect();
        CheckpointMetadata {
            history: Vec::new(),
            format_version: FORMAT_VERSION,
            value_format: 2,
            checkpoint_id: id,
            job_name: "j".into(),
            timestamp_ms: 1000 * id,
            max_parallelism: 4,
            operators: vec![OperatorState {
                operator_id: "op".into(),
                parallelism: 1,
                subtasks: vec![SubtaskState { subtask: 0, key_groups: None, files, inline: None }],
            }],
        }
    }

    fn files(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(p, s)| (p.to_string(), *s)).collect()
    }

    #[test]
    fn full_and_incremental_sizes() {
        let files = files(&[
            ("chk-1/_metadata", 100),
            ("chk-1/op-0.state", 10),
            ("chk-2/_metadata", 200),
            ("chk-2/op-0.state", 20),
            ("chk-3/op-0.state", 30), // incomplete
            ("shared/op-0.1.a.sst", 1000),
            ("shared/op-0.2.b.sst", 2000),
            ("shared/op-0.3.c.sst", 3000), // uploaded by the incomplete one
            ("shared/unknown", 5),
            ("_job_lock", 50),
            ("savepoints/sp/op-0/op-0.2.b.sst", 2000), // a promoted copy: not written by checkpoint 2 here
        ]);
        let c1 = meta(1, &[("op-0.state", 10), ("../shared/op-0.1.a.sst", 1000)]);
        let c2 = meta(2, &[("op-0.state", 20), ("../shared/op-0.1.a.sst", 1000), ("../shared/op-0.2.b.sst", 2000)]);
        let metas = BTreeMap::from([("chk-1".to_string(), Ok(c1)), ("chk-2".to_string(), Ok(c2))]);
        let got = summarize(&files, &metas);
        let row = |s: &CheckpointSummary| (s.id, s.complete, s.trigger_time_ms, s.full_size, s.incremental_size);
        assert_eq!(
            got.iter().map(row).collect::<Vec<_>>(),
            vec![
                (1, true, Some(1000), Some(100 + 10 + 1000), 100 + 10 + 1000),
                (2, true, Some(2000), Some(200 + 20 + 1000 + 2000), 200 + 20 + 2000),
                (3, false, None, None, 30 + 3000),
            ]
        );
        assert!(got.iter().all(|s| s.problem.is_none()));
    }

    #[test]
    fn broken_metadata_and_misplaced_metadata() {
        let files = files(&[("chk-4/_metadata", 7), ("chk-5/_metadata", 9), ("chk-5/op-0.state", 3), ("chk-x/_metadata", 1)]);
        let metas =
            BTreeMap::from([("chk-4".to_string(), Err("truncated".to_string())), ("chk-5".to_string(), Ok(meta(1, &[("op-0.state", 3)])))]);
        let got = summarize(&files, &metas);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].complete, got[0].full_size, got[0].problem.as_deref()), (true, None, Some("truncated")));
        assert_eq!(got[1].full_size, Some(12));
        assert_eq!(got[1].problem.as_deref(), Some("its _metadata belongs to checkpoint 1"));
        assert!(got[0].to_string().contains("broken"), "{}", got[0]);
    }
}
