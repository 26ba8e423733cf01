//! What a backend's snapshot produces and what a restore consumes.

use std::path::PathBuf;

use weir_checkpoint::KeyGroupOffset;

use crate::StateError;

/// One file of a snapshot, ready to be uploaded by the checkpoint storage.
#[derive(Debug)]
pub struct SnapshotFile {
    /// File name, unique within the operator instance's snapshot.
    pub name: String,
    /// Its bytes.
    pub content: SnapshotContent,
    /// Where each key group's block starts in the file (empty when the file
    /// is not split by key group).
    pub key_group_offsets: Vec<KeyGroupOffset>,
    /// The file never changes once written and later snapshots may hold it
    /// again (a RocksDB SST file): an incremental checkpoint uploads it once,
    /// to the shared directory, and references it from then on.
    pub shared: bool,
}

/// The bytes of a snapshot file.
#[derive(Debug)]
pub enum SnapshotContent {
    /// Serialized in memory.
    Bytes(Vec<u8>),
    /// A file on the local disk (a backend's own file).
    Local {
        /// Where it is.
        path: PathBuf,
        /// Keeps the file's directory until every file of the snapshot is uploaded.
        keep: Option<std::sync::Arc<RemoveOnDrop>>,
    },
}

/// Removes a directory (and everything in it) when dropped.
#[derive(Debug)]
pub struct RemoveOnDrop(pub PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The asynchronous phase of a snapshot: a frozen view of the state that can
/// be serialized on another thread.
pub trait StateSnapshot: Send {
    /// Serializes the frozen state into files.
    fn write(self: Box<Self>) -> Result<Vec<SnapshotFile>, StateError>;
}

/// A file of a checkpoint, read back for a restore.
#[derive(Debug, Clone)]
pub struct RestoredFile {
    /// The file's path in the checkpoint, for messages.
    pub name: String,
    /// The backend's own name of the file (what its snapshot called it).
    pub file_name: String,
    /// The checkpointed instance the file belongs to (files of one instance belong together).
    pub source: String,
    /// The key groups that instance owned.
    pub key_groups: Option<weir_checkpoint::KeyGroupRange>,
    /// Its contents, checked against the checkpoint's size and checksum.
    pub data: RestoredData,
    /// Where each key group's block starts.
    pub key_group_offsets: Vec<KeyGroupOffset>,
}

/// Where a restored file's bytes are.
#[derive(Debug, Clone)]
pub enum RestoredData {
    /// In memory.
    Bytes(bytes::Bytes),
    /// In a local file (downloaded, or found in the state directory).
    Local(PathBuf),
}

impl RestoredFile {
    /// The file's bytes (read from disk when the file is local).
    pub fn bytes(&self) -> Result<bytes::Bytes, StateError> {
        match &self.data {
            RestoredData::Bytes(b) => Ok(b.clone()),
            RestoredData::Local(p) => Ok(bytes::Bytes::from(std::fs::read(p)?)),
        }
    }

    /// Puts the file at `target` (a hard link when it is local and that works).
    pub fn place(&self, target: &std::path::Path) -> Result<(), StateError> {
        match &self.data {
            RestoredData::Bytes(b) => std::fs::write(target, b)?,
            RestoredData::Local(p) => {
                if std::fs::hard_link(p, target).is_err() {
                    std::fs::copy(p, target)?;
                }
            }
        }
        Ok(())
    }

    /// The block of `key_group` in `bytes` (this file's contents), if the file has one.
    pub fn block<'a>(&self, bytes: &'a [u8], key_group: u32) -> Result<Option<&'a [u8]>, StateError> {
        let Some(off) = self.key_group_offsets.iter().find(|o| o.key_group == key_group) else {
            return Ok(None);
        };
        let start = off.offset as usize;
        let end = start.checked_add(off.len as usize).filter(|&e| e <= bytes.len()).ok_or_else(|| {
            StateError::Corrupt(format!(
                "{}: key group {} block {}+{} lies beyond the file's {} bytes",
                self.name,
                key_group,
                off.offset,
                off.len,
                bytes.len()
            ))
        })?;
        Ok(Some(&bytes[start..end]))
    }
}
