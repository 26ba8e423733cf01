//! Checkpoint-level operations: state files, `_metadata`, listing and cleanup.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::CheckpointStorage;
use crate::checksum::checksum;
use crate::error::CheckpointError;
use crate::manifest::{parse_checkpoint_dir, CheckpointMetadata, KeyGroupOffset, StateFile, METADATA_FILE};
use crate::protocol::{self, PendingCheckpoint};

/// One `chk-<id>` directory found under the storage root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointListing {
    /// The checkpoint id from the directory name.
    pub id: u64,
    /// The directory, relative to the root (`chk-<id>`).
    pub dir: String,
    /// Whether it holds a `_metadata` file (which is not parsed here).
    pub complete: bool,
}

impl CheckpointStorage {
    /// Writes the state file `name` into `checkpoint_dir` and returns its
    /// [`StateFile`] entry (size, CRC-32C, `key_group_offsets`), with `path`
    /// relative to `checkpoint_dir` — i.e. `name` itself.
    ///
    /// `name` may lead out of `checkpoint_dir` (e.g. `../shared/abc.sst`) but not
    /// out of the root.
    pub async fn write_state_file(
        &self,
        checkpoint_dir: &str,
        name: &str,
        bytes: Bytes,
        key_group_offsets: Vec<KeyGroupOffset>,
    ) -> Result<StateFile, CheckpointError> {
        let rel = self.resolve(checkpoint_dir, name)?;
        let file = StateFile {
            path: name.to_string(),
            size: bytes.len() as u64,
            checksum: checksum(&bytes),
            key_group_offsets,
            inline_state: false,
        };
        self.put(&rel, bytes).await?;
        Ok(file)
    }

    /// Reads a file recorded in the `_metadata` of `checkpoint_dir` and checks
    /// its size and checksum. Errors name the file's full path.
    pub async fn read_state_file(&self, checkpoint_dir: &str, file: &StateFile) -> Result<Bytes, CheckpointError> {
        let rel = self.resolve(checkpoint_dir, &file.path)?;
        let bytes = self.get(&rel).await?;
        let actual_size = bytes.len() as u64;
        if actual_size != file.size {
            return Err(CheckpointError::SizeMismatch { path: self.describe(&rel), expected: file.size, actual: actual_size });
        }
        let actual = checksum(&bytes);
        if actual != file.checksum {
            return Err(CheckpointError::ChecksumMismatch { path: self.describe(&rel), expected: file.checksum, actual });
        }
        Ok(bytes)
    }

    /// Writes `chk-<id>/_metadata`, which completes the checkpoint. Call it
    /// after every state file has been written.
    ///
    /// The write is atomic (readers never see a partial `_metadata`): object
    /// stores guarantee it for a put, and the local file system writes a
    /// staging file and links it into place, with fsync of file and directory.
    ///
    /// It is also create-only, so that two writers (a job and a copy of it
    /// started by mistake on the same directory) cannot both complete chk-N:
    /// the second fails with [`CheckpointError::MetadataExists`] and the
    /// first one's `_metadata` stays. The local file system and memory do
    /// this atomically; S3 sends `If-None-Match: *`; a store without
    /// conditional puts (S3 with `AWS_CONDITIONAL_PUT=disabled`) checks, then
    /// writes. A `_metadata` found with exactly the bytes being written counts
    /// as written: that is this writer's own put, repeated by the client's
    /// retry after an answer was lost.
    pub async fn write_metadata(&self, meta: &CheckpointMetadata) -> Result<(), CheckpointError> {
        self.write_metadata_in(&Self::checkpoint_dir(meta.checkpoint_id), meta).await
    }

    /// Writes `<dir>/_metadata` (a savepoint's directory), atomically and
    /// create-only as [`CheckpointStorage::write_metadata`] does.
    pub async fn write_metadata_in(&self, dir: &str, meta: &CheckpointMetadata) -> Result<(), CheckpointError> {
        let rel = metadata_path(dir);
        let bytes = Bytes::from(meta.to_json()?);
        if self.put_if_absent(&rel, bytes.clone()).await? {
            return Ok(());
        }
        match self.get(&rel).await {
            Ok(existing) if existing == bytes => Ok(()),
            // Deleted again in between: someone else's all the same.
            Ok(_) | Err(CheckpointError::Missing { .. }) => Err(CheckpointError::MetadataExists { path: self.describe(&rel) }),
            Err(e) => Err(e),
        }
    }

    /// Reads and checks the `_metadata` in `checkpoint_dir` (relative to the root).
    ///
    /// Fails with [`CheckpointError::NotACheckpoint`] when there is none.
    pub async fn read_metadata(&self, checkpoint_dir: &str) -> Result<CheckpointMetadata, CheckpointError> {
        let rel = metadata_path(checkpoint_dir);
        let bytes = match self.get(&rel).await {
            Ok(bytes) => bytes,
            Err(CheckpointError::Missing { .. }) => return Err(CheckpointError::NotACheckpoint { path: self.describe(checkpoint_dir) }),
            Err(e) => return Err(e),
        };
        CheckpointMetadata::from_json(&self.describe(&rel), &bytes)
    }

    /// Every `chk-<id>` directory under the root, sorted by id; other entries
    /// are ignored.
    pub async fn list_checkpoints(&self) -> Result<Vec<CheckpointListing>, CheckpointError> {
        let prefix = (!self.root.as_ref().is_empty()).then_some(&self.root);
        let listing = match self.store.list_with_delimiter(prefix).await {
            Ok(listing) => listing,
            Err(object_store::Error::NotFound { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(self.store_error("", e)),
        };
        let mut found = Vec::new();
        for dir in listing.common_prefixes {
            let Some(name) = dir.filename() else { continue };
            let Some(id) = parse_checkpoint_dir(name) else {
                continue;
            };
            let dir = name.to_string();
            let complete = self.exists(&metadata_path(&dir)).await?;
            found.push(CheckpointListing { id, dir, complete });
        }
        found.sort_by_key(|c| c.id);
        Ok(found)
    }

    /// The newest checkpoint whose `_metadata` exists, parses, and carries the
    /// id of its directory.
    ///
    /// A newer checkpoint whose `_metadata` is broken is skipped with a
    /// warning, so the job falls back to an older, intact one rather than
    /// failing to start; the broken directory is left for the user to inspect.
    /// A `_metadata` in a format version this build does not read is an error
    /// instead: silently resuming from older state would go back in time.
    pub async fn latest_complete(&self) -> Result<Option<u64>, CheckpointError> {
        let listing = self.list_checkpoints().await?;
        for candidate in listing.iter().rev().filter(|c| c.complete) {
            match self.read_metadata(&candidate.dir).await {
                Ok(meta) if meta.checkpoint_id == candidate.id => return Ok(Some(candidate.id)),
                Ok(meta) => tracing::warn!(
                    path = %self.describe(&metadata_path(&candidate.dir)),
                    found_id = meta.checkpoint_id,
                    "skipping checkpoint: its _metadata belongs to checkpoint {}",
                    meta.checkpoint_id
                ),
                Err(e @ CheckpointError::CorruptMetadata { .. }) => {
                    tracing::warn!("skipping checkpoint {}: {e}", candidate.id);
                }
                // Deleted between listing and reading (concurrent cleanup).
                Err(CheckpointError::NotACheckpoint { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Removes subsumed checkpoints: first each discarded `chk-<id>/_metadata`
    /// (so a crash midway leaves incomplete checkpoints, never complete-looking
    /// broken ones), then the files no retained checkpoint references
    /// ([`protocol::deletable_files`]), then whatever else is left in the
    /// discarded directories and not referenced by a retained checkpoint.
    ///
    /// Checkpoints still in flight that may reference files of the discarded
    /// ones must be passed in `retained` too.
    pub async fn discard_checkpoints(
        &self,
        retained: &[&CheckpointMetadata],
        discarded: &[&CheckpointMetadata],
    ) -> Result<(), CheckpointError> {
        for meta in discarded {
            self.delete(&metadata_path(&Self::checkpoint_dir(meta.checkpoint_id))).await?;
        }
        for path in protocol::deletable_files(retained, discarded) {
            self.delete(&path).await?;
        }
        let keep = referenced_by(retained);
        for meta in discarded {
            self.delete_unreferenced(&Self::checkpoint_dir(meta.checkpoint_id), &keep).await?;
        }
        Ok(())
    }

    /// Removes what an aborted checkpoint wrote: the files it was acknowledged
    /// with that no `retained` checkpoint references, and everything else in
    /// its `chk-<id>` directory that no retained checkpoint references.
    ///
    /// Shared files uploaded by tasks that never acknowledged are not known
    /// here and stay behind.
    pub async fn abort_checkpoint(&self, pending: &PendingCheckpoint, retained: &[&CheckpointMetadata]) -> Result<(), CheckpointError> {
        for path in pending.abort_deletable(retained) {
            self.delete(&path).await?;
        }
        self.delete_unreferenced(&Self::checkpoint_dir(pending.id()), &referenced_by(retained)).await
    }

    /// Deletes every file under `dir` (relative to the root) that `keep` does not name.
    pub async fn delete_unreferenced(&self, dir: &str, keep: &BTreeSet<String>) -> Result<(), CheckpointError> {
        for (path, _) in self.list_files(dir).await? {
            if !keep.contains(&path) {
                self.delete(&path).await?;
            }
        }
        Ok(())
    }

    /// Root-relative path of `file_path` as recorded in `checkpoint_dir`'s `_metadata`.
    pub(super) fn resolve(&self, checkpoint_dir: &str, file_path: &str) -> Result<String, CheckpointError> {
        protocol::root_relative(checkpoint_dir, file_path)
            .ok_or_else(|| CheckpointError::PathEscapesRoot { path: format!("{}/{}", self.describe(checkpoint_dir), file_path) })
    }
}

/// `<checkpoint_dir>/_metadata`; just `_metadata` for a checkpoint at the root (`""`).
fn metadata_path(checkpoint_dir: &str) -> String {
    crate::paths::join(checkpoint_dir, METADATA_FILE)
}

fn referenced_by(metas: &[&CheckpointMetadata]) -> BTreeSet<String> {
    metas.iter().flat_map(|m| protocol::referenced_files(m)).collect()
}
