//! Opening a checkpoint or savepoint directory given by the user, wherever it lies.

use super::CheckpointStorage;
use crate::error::CheckpointError;
use crate::location::CheckpointLocation;
use crate::manifest::METADATA_FILE;

/// Opens the checkpoint or savepoint at `path`: a `chk-<id>` directory, any
/// directory holding a `_metadata` (a savepoint), or the `_metadata` file
/// itself, as a path, `file://` or `s3://` URL.
///
/// Returns storage rooted at the directory's *parent* and the directory's
/// name relative to it, so that paths such as `../shared/abc.sst` in
/// `_metadata` resolve — also after the whole tree was copied or moved.
/// Nothing is created. A local directory without `_metadata` is
/// [`CheckpointError::NotACheckpoint`] right away; for object stores the
/// check happens in [`CheckpointStorage::read_metadata`] (this function does no
/// network I/O).
pub fn open_checkpoint(path: &str) -> Result<(CheckpointStorage, String), CheckpointError> {
    let location = CheckpointLocation::parse(path)?;
    let (parent, name) = location.split_last()?;
    if let CheckpointLocation::Local { dir, .. } = &parent {
        let checkpoint = dir.join(&name);
        if !checkpoint.join(METADATA_FILE).is_file() {
            return Err(CheckpointError::NotACheckpoint { path: checkpoint.display().to_string() });
        }
    }
    let storage = CheckpointStorage::open_location_with(&parent, false)?;
    Ok((storage, name))
}
