//! Loading the checkpoint a job restores from, and handing each operator
//! instance its part.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use weir_checkpoint::protocol::root_relative;
use weir_checkpoint::{open_checkpoint, CheckpointMetadata, CheckpointStorage};
use weir_state::RestoredFile;

use crate::incremental::{local_name, SharedFile};
use crate::{JobError, RestoredState, SubtaskEnv};

/// A checkpoint read and verified for a restore: its metadata and the bytes of
/// every file it references (each checked for size and checksum).
pub(crate) struct Restore {
    pub path: String,
    pub meta: CheckpointMetadata,
    /// The storage root it was read from, and its directory there.
    root: String,
    dir: String,
    files: HashMap<String, Bytes>,
}

impl Restore {
    /// Reads `_metadata` in `dir` of `storage` and every file it references.
    pub(crate) fn load(runtime: &tokio::runtime::Runtime, storage: &CheckpointStorage, dir: &str) -> Result<Self, JobError> {
        runtime.block_on(async {
            let meta = storage.read_metadata(dir).await?;
            let mut files = HashMap::new();
            for op in &meta.operators {
                for st in &op.subtasks {
                    for f in &st.files {
                        let bytes = storage.read_state_file(dir, f).await?;
                        files.insert(f.path.clone(), bytes);
                    }
                }
            }
            Ok(Restore { path: storage.describe(dir), root: storage.describe(""), dir: dir.to_string(), meta, files })
        })
    }

    /// Opens the checkpoint at `path` (a `chk-N` or savepoint directory).
    pub(crate) fn load_path(runtime: &tokio::runtime::Runtime, path: &str) -> Result<Self, JobError> {
        let (storage, dir) = open_checkpoint(path)?;
        Self::load(runtime, &storage, &dir)
    }

    /// A file of the checkpoint as users find it on disk.
    fn describe_file(&self, path: &str) -> String {
        format!("{}/{path}", self.path)
    }

    /// Whether the checkpoint lies in `storage` (the job's own checkpoint directory).
    pub(crate) fn is_in(&self, storage: &CheckpointStorage) -> bool {
        self.root == storage.describe("")
    }

    /// The shared files instance `subtask` of each operator held, by the backend's file name.
    pub(crate) fn shared_files_of(&self, subtask: u32) -> HashMap<String, HashMap<String, SharedFile>> {
        let mut out: HashMap<String, HashMap<String, SharedFile>> = HashMap::new();
        for op in &self.meta.operators {
            for st in op.subtasks.iter().filter(|s| s.subtask == subtask) {
                for f in &st.files {
                    let (Some(root_path), Some(name)) = (root_relative(&self.dir, &f.path), local_name(&op.operator_id, subtask, &f.path))
                    else {
                        continue;
                    };
                    if root_path.starts_with("shared/") {
                        out.entry(op.operator_id.clone())
                            .or_default()
                            .insert(name.to_string(), SharedFile { root_path, size: f.size, checksum: f.checksum });
                    }
                }
            }
        }
        out
    }

    /// Checks that the checkpoint fits a job with these operators and key groups.
    pub(crate) fn check_compatible(
        &self,
        operator_ids: &BTreeSet<String>,
        max_parallelism: u32,
        allow_non_restored: bool,
    ) -> Result<(), JobError> {
        if self.meta.max_parallelism != max_parallelism {
            return Err(JobError::IncompatibleCheckpoint {
                path: self.path.clone(),
                reason: format!(
                    "it was written with max parallelism {} (key groups) and the job has {}; the number of key groups is fixed for the life of a job's state",
                    self.meta.max_parallelism, max_parallelism
                ),
            });
        }
        let unused: Vec<&str> =
            self.meta.operators.iter().map(|o| o.operator_id.as_str()).filter(|id| !operator_ids.contains(*id)).collect();
        if !unused.is_empty() && !allow_non_restored {
            return Err(JobError::IncompatibleCheckpoint {
                path: self.path.clone(),
                reason: format!(
                    "it holds state of operator(s) {} that the job does not have (operators of the job: {}); pass --allow-non-restored-state to drop that state",
                    unused.join(", "),
                    operator_ids.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        Ok(())
    }

    /// The state of `operator_id` for the instance described by `env`.
    pub(crate) fn state_for(&self, operator_id: &str, env: &SubtaskEnv, keyed: bool) -> Result<Option<RestoredState>, JobError> {
        let Some(op) = self.meta.operator(operator_id) else { return Ok(None) };
        let mut restored = RestoredState { checkpoint_id: self.meta.checkpoint_id, inline: None, files: Vec::new() };
        if keyed {
            for st in &op.subtasks {
                let overlaps = st.key_groups.is_none_or(|r| !r.intersection(&env.key_groups).is_empty());
                if !overlaps {
                    continue;
                }
                for f in &st.files {
                    let bytes = self.files.get(&f.path).cloned().ok_or_else(|| JobError::IncompatibleCheckpoint {
                        path: self.path.clone(),
                        reason: format!("file {} was not loaded", f.path),
                    })?;
                    // The backend's own name: the last path component, or for a
                    // shared file what follows its unique prefix.
                    let file_name =
                        local_name(operator_id, st.subtask, &f.path).or_else(|| f.path.rsplit('/').next()).unwrap_or(&f.path).to_string();
                    restored.files.push(RestoredFile {
                        name: self.describe_file(&f.path),
                        file_name,
                        source: format!("{operator_id} instance {}", st.subtask),
                        key_groups: st.key_groups,
                        bytes,
                        key_group_offsets: f.key_group_offsets.clone(),
                    });
                }
            }
        }
        let has_inline = op.subtasks.iter().any(|s| s.inline.is_some());
        if has_inline {
            if op.parallelism != env.parallelism {
                return Err(JobError::IncompatibleCheckpoint {
                    path: self.path.clone(),
                    reason: format!(
                        "operator {operator_id} ran with parallelism {} and the job now has {}; changing the parallelism of sources and sinks is not supported yet",
                        op.parallelism, env.parallelism
                    ),
                });
            }
            restored.inline = op.subtasks.iter().find(|s| s.subtask == env.subtask).and_then(|s| s.inline.clone());
        }
        Ok(Some(restored))
    }
}
