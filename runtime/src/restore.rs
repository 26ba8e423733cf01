//! Loading the checkpoint a job restores from, and handing each operator
//! instance its part.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use futures::StreamExt;
use tracing::info;
use weir_checkpoint::protocol::root_relative;
use weir_checkpoint::{checksum, open_checkpoint, CheckpointMetadata, CheckpointStorage, KeyGroupRange, StateFile};
use weir_state::{RestoredData, RestoredFile};

use crate::incremental::{local_name, Candidate, Candidates, SharedFile};
use crate::{JobError, RescaledInline, RestoredState, SubtaskEnv};

/// A checkpoint read and verified for a restore: its metadata, and every file
/// it references in a local directory (each checked for size and checksum).
pub(crate) struct Restore {
    pub path: String,
    pub meta: CheckpointMetadata,
    /// The storage root it was read from, and its directory there.
    root: String,
    dir: String,
    /// The storage it was read from.
    storage: CheckpointStorage,
    /// Path in `_metadata` -> the local copy, and the backend's own name of the file.
    files: HashMap<String, (PathBuf, String)>,
    /// Where the local copies are (removed once every operator has its state).
    pub local_dir: PathBuf,
    /// How the files were fetched.
    pub fetched: FetchStats,
}

/// How a restore got the checkpoint's files: downloaded from the checkpoint
/// storage (copied, or hard-linked when the storage is a directory on the
/// same file system), or found in the state directory (local recovery).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Files read from the checkpoint storage.
    pub downloaded_files: u64,
    /// Their bytes.
    pub downloaded_bytes: u64,
    /// Files taken from the state directory after checking name, size and checksum.
    pub local_files: u64,
    /// Their bytes.
    pub local_bytes: u64,
    /// Of the downloaded files, those hard-linked from a checkpoint on the
    /// same local file system after checking size and checksum, not copied.
    pub linked_files: u64,
    /// Their bytes.
    pub linked_bytes: u64,
}

/// Files fetched at once during a restore.
const PARALLEL_FETCHES: usize = 8;

/// How a file reached the local directory.
enum Fetched {
    Downloaded(u64),
    Linked(u64),
    Local(u64),
}

/// The file `file_name` of operator instance `<operator>-<subtask>` as the
/// previous run on this machine left it in the state directory, if its size
/// and checksum are the checkpoint's (local recovery).
fn local_copy(state_root: &Path, operator: &str, subtask: u32, file_name: &str, file: &StateFile) -> Option<PathBuf> {
    let candidate = state_root.join(format!("{operator}-{subtask}")).join("db").join(file_name);
    let meta = std::fs::metadata(&candidate).ok()?;
    if meta.len() != file.size {
        return None;
    }
    let bytes = std::fs::read(&candidate).ok()?;
    (checksum(&bytes) == file.checksum).then_some(candidate)
}

/// Whether the backends never write into the file `file_name` once it is
/// created (RocksDB's SST files, canonical files), so that the restore may
/// share it with the checkpoint (a hard link) instead of copying it. RocksDB
/// rewrites or appends to its other files (MANIFEST, CURRENT, logs); those
/// are always copied, so that nothing a job does changes a checkpoint.
fn never_rewritten(file_name: &str) -> bool {
    file_name.ends_with(".sst") || file_name == weir_state::canonical::KEYED_STATE_FILE
}

async fn fetch(
    storage: &CheckpointStorage,
    dir: &str,
    state_root: &Path,
    target: &Path,
    (operator, subtask, file_name, file): (String, u32, String, StateFile),
) -> Result<Fetched, JobError> {
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|e| JobError::io(format!("creating {}", parent.display()), e))?;
    }
    let root = state_root.to_path_buf();
    let (op, name, f) = (operator.clone(), file_name.clone(), file.clone());
    let local = tokio::task::spawn_blocking(move || local_copy(&root, &op, subtask, &name, &f)).await.ok().flatten();
    if let Some(local) = local {
        if std::fs::hard_link(&local, target).is_ok() || std::fs::copy(&local, target).is_ok() {
            return Ok(Fetched::Local(file.size));
        }
    }
    if never_rewritten(&file_name) {
        if let Some(source) = storage.local_state_file(dir, &file).await? {
            let link = target.to_path_buf();
            if let Ok(Ok(())) = tokio::task::spawn_blocking(move || std::fs::hard_link(source, link)).await {
                return Ok(Fetched::Linked(file.size));
            }
        }
    }
    let bytes = storage.read_state_file(dir, &file).await?;
    tokio::fs::write(target, &bytes).await.map_err(|e| JobError::io(format!("writing {}", target.display()), e))?;
    Ok(Fetched::Downloaded(file.size))
}

/// Reads each subtask's inline state that was written to a file of its own
/// into the subtask's `inline`, where small inline state already is.
async fn read_inline_files(storage: &CheckpointStorage, dir: &str, meta: &mut CheckpointMetadata) -> Result<(), JobError> {
    let reads = meta.operators.iter_mut().flat_map(|op| op.subtasks.iter_mut()).filter_map(|st| {
        let file = st.files.iter().find(|f| f.inline_state)?.clone();
        Some(async move {
            st.inline = Some(storage.read_state_file(dir, &file).await?.to_vec());
            Ok::<(), JobError>(())
        })
    });
    futures::future::try_join_all(reads).await?;
    Ok(())
}

impl Restore {
    /// Reads `_metadata` in `dir` of `storage` and fetches every file it
    /// references into `<state_root>/.restore/`, several at a time: from the
    /// state directory when the previous run left the same file there (local
    /// recovery), else from the checkpoint storage.
    pub(crate) fn load(
        runtime: &tokio::runtime::Runtime,
        storage: &CheckpointStorage,
        dir: &str,
        state_root: &Path,
    ) -> Result<Self, JobError> {
        let started = Instant::now();
        let mut meta = crate::io::block_on(runtime.handle(), storage.read_metadata(dir))?;
        crate::io::block_on(runtime.handle(), read_inline_files(storage, dir, &mut meta))?;
        let local_dir = state_root.join(".restore").join(format!("chk-{}", meta.checkpoint_id));
        if local_dir.exists() {
            std::fs::remove_dir_all(&local_dir).map_err(|e| JobError::io(format!("clearing {}", local_dir.display()), e))?;
        }
        let mut jobs = Vec::new();
        let mut files = HashMap::new();
        for op in &meta.operators {
            for st in &op.subtasks {
                for f in st.files.iter().filter(|f| !f.inline_state) {
                    // The backend's own name: what follows a shared file's unique
                    // prefix, or the last path component.
                    let file_name =
                        local_name(&op.operator_id, &f.path).or_else(|| f.path.rsplit('/').next()).unwrap_or(&f.path).to_string();
                    let target = local_dir.join(format!("{}-{}", op.operator_id, st.subtask)).join(&file_name);
                    files.insert(f.path.clone(), (target.clone(), file_name.clone()));
                    jobs.push((target, (op.operator_id.clone(), st.subtask, file_name, f.clone())));
                }
            }
        }
        let results: Vec<Result<Fetched, JobError>> = crate::io::block_on(
            runtime.handle(),
            futures::stream::iter(jobs.iter().map(|(target, job)| fetch(storage, dir, state_root, target, job.clone())))
                .buffer_unordered(PARALLEL_FETCHES)
                .collect(),
        );
        let (mut downloaded, mut local, mut downloaded_bytes, mut local_bytes) = (0, 0, 0u64, 0u64);
        let (mut linked, mut linked_bytes) = (0, 0u64);
        for r in results {
            match r? {
                Fetched::Downloaded(b) => {
                    downloaded += 1;
                    downloaded_bytes += b;
                }
                Fetched::Linked(b) => {
                    downloaded += 1;
                    downloaded_bytes += b;
                    linked += 1;
                    linked_bytes += b;
                }
                Fetched::Local(b) => {
                    local += 1;
                    local_bytes += b;
                }
            }
        }
        info!(
            checkpoint = meta.checkpoint_id,
            downloaded_files = downloaded,
            downloaded_bytes,
            local_files = local,
            local_bytes,
            linked_files = linked,
            linked_bytes,
            ms = started.elapsed().as_millis() as u64,
            "fetched the checkpoint's files ({})",
            if local > 0 && downloaded == 0 {
                "local recovery"
            } else if local > 0 {
                "partly local recovery"
            } else {
                "download"
            }
        );
        let fetched = FetchStats {
            downloaded_files: downloaded,
            downloaded_bytes,
            local_files: local,
            local_bytes,
            linked_files: linked,
            linked_bytes,
        };
        Ok(Restore {
            path: storage.describe(dir),
            root: storage.describe(""),
            dir: dir.to_string(),
            storage: storage.clone(),
            meta,
            files,
            local_dir,
            fetched,
        })
    }

    /// Opens the checkpoint at `path` (a `chk-N` or savepoint directory).
    pub(crate) fn load_path(runtime: &tokio::runtime::Runtime, path: &str, state_root: &Path) -> Result<Self, JobError> {
        let (storage, dir) = open_checkpoint(path)?;
        Self::load(runtime, &storage, &dir, state_root)
    }

    /// A file of the checkpoint as users find it on disk.
    fn describe_file(&self, path: &str) -> String {
        format!("{}/{path}", self.path)
    }

    /// The restored checkpoint, for `--restore-mode claim`: the job deletes it
    /// once its own first checkpoint is complete. Savepoints are never claimed.
    pub(crate) fn claim(&self) -> Result<Claimed, JobError> {
        let name = self.dir.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
        if weir_checkpoint::parse_checkpoint_dir(name).is_none() {
            return Err(JobError::Config(format!(
                "--restore-mode claim: {} is not a checkpoint directory (chk-N); weir never deletes a savepoint",
                self.path
            )));
        }
        Ok(Claimed { storage: self.storage.clone(), dir: self.dir.clone(), meta: self.meta.clone() })
    }

    /// Whether the checkpoint lies in `storage` (the job's own checkpoint directory).
    pub(crate) fn is_in(&self, storage: &CheckpointStorage) -> bool {
        self.root == storage.describe("")
    }

    /// Every file of the checkpoint, by operator and the backend's own name,
    /// as candidates for the job's first checkpoint (see
    /// [`SharedFiles`](crate::incremental::SharedFiles)).
    /// Restored from the job's own directory (`own`), its `shared/` files are
    /// referenced; every other file would be copied.
    pub(crate) fn candidates(&self, own: bool) -> Candidates {
        let mut out = Candidates::new();
        for op in &self.meta.operators {
            for st in &op.subtasks {
                for f in &st.files {
                    let (Some(root_path), Some((_, name))) = (root_relative(&self.dir, &f.path), self.files.get(&f.path)) else {
                        continue;
                    };
                    let copy = !(own && root_path.starts_with("shared/"));
                    let file = SharedFile { root_path, size: f.size, checksum: f.checksum };
                    out.entry(op.operator_id.clone()).or_default().entry(name.clone()).or_default().push(Candidate { file, copy });
                }
            }
        }
        out
    }

    /// The storage the checkpoint was read from.
    pub(crate) fn storage(&self) -> &CheckpointStorage {
        &self.storage
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

    /// The keyed-state files of `operator_id` of every checkpointed instance
    /// whose key groups overlap `key_groups` (none when the checkpoint does
    /// not hold the operator).
    pub(crate) fn keyed_files(&self, operator_id: &str, key_groups: KeyGroupRange) -> Result<Vec<RestoredFile>, JobError> {
        let Some(op) = self.meta.operator(operator_id) else { return Ok(Vec::new()) };
        let mut files = Vec::new();
        for st in &op.subtasks {
            let overlaps = st.key_groups.is_none_or(|r| !r.intersection(&key_groups).is_empty());
            if !overlaps {
                continue;
            }
            for f in st.files.iter().filter(|f| !f.inline_state) {
                let (local, file_name) = self.files.get(&f.path).cloned().ok_or_else(|| JobError::IncompatibleCheckpoint {
                    path: self.path.clone(),
                    reason: format!("file {} was not loaded", f.path),
                })?;
                files.push(RestoredFile {
                    name: self.describe_file(&f.path),
                    file_name,
                    source: format!("{operator_id} instance {}", st.subtask),
                    key_groups: st.key_groups,
                    data: RestoredData::Local(local),
                    key_group_offsets: f.key_group_offsets.clone(),
                });
            }
        }
        Ok(files)
    }

    /// The state of `operator_id` for the instance described by `env`.
    pub(crate) fn state_for(&self, operator_id: &str, env: &SubtaskEnv, keyed: bool) -> Result<Option<RestoredState>, JobError> {
        let Some(op) = self.meta.operator(operator_id) else { return Ok(None) };
        let format = weir_state::ValueFormat::from_number(self.meta.value_format)
            .map_err(|e| JobError::Input(format!("operator {operator_id}: its checkpointed inline state: {e}")))?;
        let mut restored = RestoredState { checkpoint_id: self.meta.checkpoint_id, format, ..RestoredState::default() };
        if keyed {
            restored.files = self.keyed_files(operator_id, env.key_groups)?;
        }
        let has_inline = op.subtasks.iter().any(|s| s.inline.is_some());
        if has_inline {
            if op.parallelism != env.parallelism {
                restored.rescaled = Some(RescaledInline {
                    parallelism: op.parallelism,
                    states: op.subtasks.iter().filter_map(|s| s.inline.clone().map(|b| (s.subtask, b))).collect(),
                });
            } else {
                restored.inline = op.subtasks.iter().find(|s| s.subtask == env.subtask).and_then(|s| s.inline.clone());
            }
        }
        Ok(Some(restored))
    }
}

/// A restored checkpoint the job took over (`--restore-mode claim`).
pub(crate) struct Claimed {
    pub storage: CheckpointStorage,
    /// Its directory, relative to the storage's root.
    pub dir: String,
    pub meta: CheckpointMetadata,
}

impl Claimed {
    /// Deletes it: `_metadata` first (it is no longer a complete checkpoint),
    /// then every file it references, then what is left in its directory.
    pub(crate) async fn delete(&self) -> Result<(), weir_checkpoint::CheckpointError> {
        self.storage.delete(&format!("{}/{}", self.dir.trim_end_matches('/'), weir_checkpoint::METADATA_FILE)).await?;
        crate::fail::point("claim-deleting");
        for f in self.meta.files() {
            if let Some(path) = root_relative(&self.dir, &f.path) {
                self.storage.delete(&path).await?;
            }
        }
        self.storage.delete_prefix(&self.dir).await
    }
}
