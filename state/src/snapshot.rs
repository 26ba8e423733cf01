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
}

/// The bytes of a snapshot file.
#[derive(Debug)]
pub enum SnapshotContent {
    /// Serialized in memory.
    Bytes(Vec<u8>),
    /// A file on the local disk (a backend's own file).
    Local(PathBuf),
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
    /// The file's name, for messages.
    pub name: String,
    /// Its bytes.
    pub bytes: bytes::Bytes,
    /// Where each key group's block starts.
    pub key_group_offsets: Vec<KeyGroupOffset>,
}

impl RestoredFile {
    /// The block of `key_group`, if the file has one.
    pub fn block(&self, key_group: u32) -> Result<Option<&[u8]>, StateError> {
        let Some(off) = self.key_group_offsets.iter().find(|o| o.key_group == key_group) else {
            return Ok(None);
        };
        let start = off.offset as usize;
        let end = start.checked_add(off.len as usize).filter(|&e| e <= self.bytes.len()).ok_or_else(|| {
            StateError::Corrupt(format!(
                "{}: key group {} block {}+{} lies beyond the file's {} bytes",
                self.name,
                key_group,
                off.offset,
                off.len,
                self.bytes.len()
            ))
        })?;
        Ok(Some(&self.bytes[start..end]))
    }
}
