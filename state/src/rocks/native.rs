//! A native snapshot: the files of a RocksDB checkpoint (hard links to the
//! live files) that a snapshot's thread made, handed to the upload.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::deferred;
use crate::snapshot::RemoveOnDrop;
use crate::{SnapshotContent, SnapshotFile, StateError, StateSnapshot};

pub(super) fn tempfile_dir(parent: &Path) -> Result<PathBuf, StateError> {
    let dir = parent.join("placeholder");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A native snapshot: the files of a RocksDB checkpoint, once its thread made it.
pub(super) struct RocksDbSnapshot {
    pub(super) in_flight: deferred::InFlight,
    pub(super) written: bool,
}

impl Drop for RocksDbSnapshot {
    fn drop(&mut self) {
        if !self.written {
            self.in_flight.discard();
        }
    }
}

impl StateSnapshot for RocksDbSnapshot {
    fn write(mut self: Box<Self>) -> Result<Vec<SnapshotFile>, StateError> {
        self.written = true;
        let dir = self.in_flight.wait()?;
        let guard = Arc::new(RemoveOnDrop(dir.clone()));
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().to_string();
            files.push(SnapshotFile {
                shared: name.ends_with(".sst"),
                name,
                content: SnapshotContent::Local { path: entry.path(), keep: Some(guard.clone()) },
                key_group_offsets: Vec::new(),
            });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }
}
