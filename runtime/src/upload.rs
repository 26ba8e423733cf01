//! The asynchronous phase: serialize frozen state and write it to checkpoint storage.
//!
//! A file the backend marks `shared` (an immutable RocksDB SST file) goes to
//! `shared/` under a unique name, once: later checkpoints reference it while a
//! confirmed checkpoint holds it. Everything else goes to
//! `chk-<N>/<operator>-<instance>/`. If any write fails, what this task wrote
//! for the checkpoint is removed again before the task declines it.
//!
//! Inline state (source positions, a sink's pre-committed transactions) goes
//! into `_metadata` when it is small; above [`MAX_METADATA_INLINE`] bytes it
//! is written as the file `chk-<N>/<operator>-<instance>/_inline`, so that
//! `_metadata`, written last and at once, stays small.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::Semaphore;
use weir_checkpoint::{CheckpointError, CheckpointStorage, Expected, StateFile, SubtaskState, TaskId};
use weir_state::{SnapshotContent, SnapshotFile};

use crate::incremental::{shared_name, Reuse, SharedFile, SharedFiles};
use crate::{JobError, OperatorSnapshot};

/// Inline state above this many bytes goes to a file of its own.
pub const MAX_METADATA_INLINE: usize = 16 * 1024;

/// The name of that file in the instance's directory.
const INLINE_FILE: &str = "_inline";

/// Where a task's part of a checkpoint or savepoint goes.
pub(crate) struct Target {
    /// The storage.
    pub storage: CheckpointStorage,
    /// The directory holding its `_metadata` (relative to the storage's root).
    pub dir: String,
    /// Write every file into `dir`, referencing nothing outside it (full
    /// checkpoints and savepoints).
    pub self_contained: bool,
}

/// What one task's upload for a checkpoint produced.
pub(crate) struct Uploaded {
    /// `(operator id, parallelism, state)` to acknowledge with.
    pub states: Vec<(String, u32, SubtaskState)>,
    /// Bytes written now (not those referenced from earlier checkpoints).
    pub bytes: u64,
}

async fn read(content: SnapshotContent) -> Result<Bytes, JobError> {
    Ok(match content {
        SnapshotContent::Bytes(b) => Bytes::from(b),
        // `keep` holds the snapshot directory until this file is read.
        SnapshotContent::Local { path, keep: _keep } => {
            Bytes::from(tokio::fs::read(&path).await.map_err(|e| JobError::io(format!("reading {}", path.display()), e))?)
        }
    })
}

/// The size of a snapshot file.
async fn content_size(content: &SnapshotContent) -> Result<u64, JobError> {
    Ok(match content {
        SnapshotContent::Bytes(b) => b.len() as u64,
        SnapshotContent::Local { path, .. } => {
            tokio::fs::metadata(path).await.map_err(|e| JobError::io(format!("reading {}", path.display()), e))?.len()
        }
    })
}

/// CRC-32C of a snapshot file's bytes, read in pieces.
async fn content_checksum(content: &SnapshotContent) -> Result<u32, JobError> {
    match content {
        SnapshotContent::Bytes(b) => Ok(weir_checkpoint::checksum(b)),
        SnapshotContent::Local { path, .. } => {
            let path = path.clone();
            let describe = format!("reading {}", path.display());
            let crc = tokio::task::spawn_blocking(move || weir_checkpoint::checksum_file(&path))
                .await
                .map_err(|e| JobError::Panic(describe.clone(), e.to_string()))?;
            crc.map_err(|e| JobError::io(describe, e))
        }
    }
}

/// The uploads of every task still running on the I/O runtime, so that the
/// job can wait for them before it ends (an upload of an aborted checkpoint
/// may finish after the abort cleaned up).
#[derive(Clone, Default)]
pub(crate) struct Uploads(Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>);

impl Uploads {
    /// Keeps `upload` until it is done (and forgets those already done).
    pub(crate) fn add(&self, upload: tokio::task::JoinHandle<()>) {
        let mut uploads = lock(&self.0);
        uploads.retain(|u| !u.is_finished());
        uploads.push(upload);
    }

    /// Waits until every upload added so far is done.
    pub(crate) async fn wait(&self) {
        let uploads = std::mem::take(&mut *lock(&self.0));
        for upload in uploads {
            let _ = upload.await;
        }
    }
}

/// Locks `m`, also after a panic elsewhere poisoned it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// How many files of one task are written at once.
const PARALLEL_FILES: usize = 4;

/// How many MiB of file contents one task holds in memory at once (a file
/// larger than this is written alone).
const BUFFER_MIB: u32 = 64;

/// Waits until a file of `size` bytes may be held in memory (see [`BUFFER_MIB`]).
async fn hold(buffer: &Semaphore, size: u64) -> Result<tokio::sync::SemaphorePermit<'_>, JobError> {
    let mib = size.div_ceil(1 << 20).min(u64::from(BUFFER_MIB)) as u32;
    buffer.acquire_many(mib).await.map_err(|e| JobError::Panic("the upload buffer".into(), e.to_string()))
}

/// Writes `file` (of `size` bytes) as `name`, relative to the target's
/// directory, within the task's memory budget, and notes it in `written` as
/// `path` (relative to the storage's root); returns its handle and the bytes
/// written.
async fn write_new(
    target: &Target,
    buffer: &Semaphore,
    written: &Mutex<Vec<String>>,
    (name, path): (&str, String),
    file: SnapshotFile,
    size: u64,
) -> Result<(StateFile, u64), JobError> {
    let _held = hold(buffer, size).await?;
    let bytes = read(file.content).await?;
    let len = bytes.len() as u64;
    lock(written).push(path);
    Ok((target.storage.write_state_file(&target.dir, name, bytes, file.key_group_offsets).await?, len))
}

/// Writes every snapshot of one task for `checkpoint`.
pub(crate) async fn upload_snapshots(
    target: &Target,
    shared: &Arc<Mutex<SharedFiles>>,
    checkpoint: u64,
    task: TaskId,
    parallelism: u32,
    snapshots: Vec<OperatorSnapshot>,
) -> Result<Uploaded, JobError> {
    let written = Mutex::new(Vec::new());
    let result = upload(target, shared, checkpoint, task, parallelism, snapshots, &written).await;
    if result.is_err() {
        let paths = std::mem::take(&mut *lock(&written));
        for path in paths {
            let _ = target.storage.delete(&path).await;
        }
        lock(shared).abort(checkpoint);
    }
    result
}

async fn upload(
    target: &Target,
    shared: &Arc<Mutex<SharedFiles>>,
    checkpoint: u64,
    task: TaskId,
    parallelism: u32,
    snapshots: Vec<OperatorSnapshot>,
    written: &Mutex<Vec<String>>,
) -> Result<Uploaded, JobError> {
    let subtask = task.1;
    let buffer = Semaphore::new(BUFFER_MIB as usize);
    let mut states = Vec::with_capacity(snapshots.len());
    let mut bytes_written = 0u64;
    for snap in snapshots {
        let mut files = Vec::new();
        if let Some(state) = snap.state {
            let operator = snap.operator_id.clone();
            let snapshot_files = tokio::task::spawn_blocking(move || state.write())
                .await
                .map_err(|e| JobError::Panic(format!("snapshot of {operator}"), e.to_string()))?
                .map_err(|e| JobError::state(&snap.operator_id, e))?;
            // In parallel, in order; every write ends (also after a failure)
            // before the task goes on, so that a cleanup finds all it wrote.
            let operator = snap.operator_id.as_str();
            let writes =
                snapshot_files.into_iter().map(|file| upload_file(target, shared, &buffer, checkpoint, operator, subtask, file, written));
            let results: Vec<Result<(StateFile, u64), JobError>> = futures::stream::iter(writes).buffered(PARALLEL_FILES).collect().await;
            for result in results {
                let (state_file, new_bytes) = result?;
                bytes_written += new_bytes;
                files.push(state_file);
            }
        }
        let mut inline = snap.inline;
        if let Some(bytes) = inline.take_if(|b| b.len() > MAX_METADATA_INLINE) {
            let name = format!("{}-{subtask}/{INLINE_FILE}", snap.operator_id);
            let path = format!("{}/{name}", target.dir);
            let size = bytes.len() as u64;
            let file =
                SnapshotFile { name: INLINE_FILE.into(), content: SnapshotContent::Bytes(bytes), key_group_offsets: vec![], shared: false };
            let (state_file, new_bytes) = write_new(target, &buffer, written, (&name, path), file, size).await?;
            bytes_written += new_bytes;
            files.push(StateFile { inline_state: true, ..state_file });
        }
        if let Some(inline) = &inline {
            bytes_written += inline.len() as u64;
        }
        states.push((snap.operator_id, parallelism, SubtaskState { subtask, key_groups: snap.key_groups, files, inline }));
    }
    Ok(Uploaded { states, bytes: bytes_written })
}

/// Uploads (or references) one file; returns its handle and the bytes written.
#[allow(clippy::too_many_arguments)]
async fn upload_file(
    target: &Target,
    shared: &Arc<Mutex<SharedFiles>>,
    buffer: &Semaphore,
    checkpoint: u64,
    operator: &str,
    subtask: u32,
    file: SnapshotFile,
    written: &Mutex<Vec<String>>,
) -> Result<(StateFile, u64), JobError> {
    let (storage, dir) = (&target.storage, target.dir.as_str());
    let incremental = file.shared && !target.self_contained && lock(shared).enabled;
    if !incremental {
        let name = format!("{operator}-{subtask}/{}", file.name);
        let size = content_size(&file.content).await?;
        return write_new(target, buffer, written, (&name, format!("{dir}/{name}")), file, size).await;
    }
    let size = content_size(&file.content).await?;
    let reusable = lock(shared).reusable(operator, &file.name, size);
    let reuse = match reusable {
        Some(Reuse::Confirmed(existing)) => Some((existing, None)),
        Some(Reuse::Restored(candidates, from)) => {
            let local = content_checksum(&file.content).await?;
            candidates.into_iter().find(|c| c.file.checksum == local).map(|c| (c.file, c.copy.then_some(from)))
        }
        None => None,
    };
    let unique = shared_name(operator, subtask, checkpoint, &file.name);
    let file_name = file.name.clone();
    let (handle, new_bytes) = match reuse {
        Some((existing, None)) => {
            let path = format!("../{}", existing.root_path);
            (
                StateFile {
                    path,
                    size: existing.size,
                    checksum: existing.checksum,
                    key_group_offsets: file.key_group_offsets,
                    inline_state: false,
                },
                0,
            )
        }
        Some((restored, Some(from))) => {
            // A restored file from outside the job's directory: copied inside
            // the store, never uploaded again and never referenced where it is.
            let to = format!("shared/{unique}");
            lock(written).push(to.clone());
            let expected = Expected { size: restored.size, checksum: restored.checksum };
            from.copy_file(&restored.root_path, storage, &to, expected).await?;
            let size = storage.size_of(&to).await?;
            if size != restored.size {
                return Err(CheckpointError::SizeMismatch { path: storage.describe(&to), expected: restored.size, actual: size }.into());
            }
            let path = format!("../{to}");
            (StateFile { path, size, checksum: restored.checksum, key_group_offsets: file.key_group_offsets, inline_state: false }, 0)
        }
        None => write_new(target, buffer, written, (&format!("../shared/{unique}"), format!("shared/{unique}")), file, size).await?,
    };
    let root_path = handle.path.trim_start_matches("../").to_string();
    lock(shared).hold(checkpoint, operator, &file_name, SharedFile { root_path, size: handle.size, checksum: handle.checksum });
    Ok((handle, new_bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use weir_state::StateError;

    /// A snapshot whose files are given.
    struct Files(Vec<SnapshotFile>);

    impl weir_state::StateSnapshot for Files {
        fn write(self: Box<Self>) -> Result<Vec<SnapshotFile>, StateError> {
            Ok(self.0)
        }
    }

    fn bytes(name: &str, shared: bool, len: usize) -> SnapshotFile {
        SnapshotFile { name: name.into(), content: SnapshotContent::Bytes(vec![7; len]), key_group_offsets: vec![], shared }
    }

    fn snapshot(files: Vec<SnapshotFile>) -> Vec<OperatorSnapshot> {
        vec![OperatorSnapshot { operator_id: "op".into(), key_groups: None, inline: None, state: Some(Box::new(Files(files))) }]
    }

    fn upload(storage: &CheckpointStorage, files: Vec<SnapshotFile>) -> Result<Uploaded, JobError> {
        let target = Target { storage: storage.clone(), dir: CheckpointStorage::checkpoint_dir(1), self_contained: false };
        let shared = Arc::new(Mutex::new(SharedFiles::new(true)));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(upload_snapshots(&target, &shared, 1, (0, 0), 1, snapshot(files)))
    }

    #[test]
    fn files_written_in_parallel_are_acknowledged_in_the_snapshots_order() {
        let storage = CheckpointStorage::in_memory();
        let names: Vec<String> = (0..9).map(|i| format!("{i}.{}", if i % 2 == 0 { "sst" } else { "meta" })).collect();
        let files = names.iter().enumerate().map(|(i, n)| bytes(n, n.ends_with(".sst"), 100 + i)).collect();
        let up = upload(&storage, files).unwrap();
        let state = &up.states[0].2;
        let sizes: Vec<u64> = state.files.iter().map(|f| f.size).collect();
        assert_eq!(sizes, (0..9).map(|i| 100 + i as u64).collect::<Vec<_>>());
        assert_eq!(up.bytes, sizes.iter().sum::<u64>());
        let written = tokio::runtime::Runtime::new().unwrap().block_on(storage.list_files("")).unwrap();
        assert_eq!(written.len(), 9, "{written:?}");
        assert_eq!(written.iter().filter(|(p, _)| p.starts_with("shared/")).count(), 5, "{written:?}");
    }

    #[test]
    fn a_file_that_cannot_be_read_leaves_none_of_the_tasks_files_behind() {
        let storage = CheckpointStorage::in_memory();
        let mut files: Vec<SnapshotFile> = (0..6).map(|i| bytes(&format!("{i}.sst"), i % 2 == 0, 1000)).collect();
        let missing = std::env::temp_dir().join("weir-upload-test-no-such-dir").join("7.sst");
        files.insert(
            3,
            SnapshotFile {
                name: "7.sst".into(),
                content: SnapshotContent::Local { path: missing, keep: None },
                key_group_offsets: vec![],
                shared: true,
            },
        );
        let err = upload(&storage, files).err().unwrap();
        assert!(err.to_string().contains("7.sst"), "{err}");
        let left = tokio::runtime::Runtime::new().unwrap().block_on(storage.list_files("")).unwrap();
        assert!(left.is_empty(), "files left behind: {left:?}");
    }

    #[test]
    fn large_inline_state_goes_to_a_file_of_its_own_and_small_stays_in_metadata() {
        let storage = CheckpointStorage::in_memory();
        let target = Target { storage: storage.clone(), dir: CheckpointStorage::checkpoint_dir(1), self_contained: false };
        let shared = Arc::new(Mutex::new(SharedFiles::new(true)));
        let large: Vec<u8> = (0..MAX_METADATA_INLINE + 1).map(|i| i as u8).collect();
        let snapshots = vec![OperatorSnapshot::inline("sink", large.clone()), OperatorSnapshot::inline("source", vec![1, 2, 3])];
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let up = runtime.block_on(upload_snapshots(&target, &shared, 1, (0, 0), 1, snapshots)).unwrap();
        let (sink, source) = (&up.states[0].2, &up.states[1].2);
        assert_eq!((sink.inline.as_ref(), sink.files.len()), (None, 1));
        let file = &sink.files[0];
        assert!(file.inline_state && file.path == "sink-0/_inline", "{file:?}");
        assert_eq!(runtime.block_on(storage.read_state_file(&target.dir, file)).unwrap().to_vec(), large);
        assert_eq!((source.inline.as_deref(), source.files.len()), (Some(&[1u8, 2, 3][..]), 0));
        assert_eq!(up.bytes, large.len() as u64 + 3);
    }
}
