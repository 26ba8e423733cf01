//! What a job's checkpoint directory may hold besides its complete
//! checkpoints, and its removal: `chk-N` directories without `_metadata`
//! (a run died while writing them, or an aborted checkpoint's upload ended
//! after the abort had cleaned up) and shared files that no complete
//! checkpoint references. Nothing can ever use either.
//!
//! Done when a job starts, before anything else writes into the directory,
//! and when it ends, after its last upload has finished.

use std::collections::BTreeSet;

use weir_checkpoint::protocol::referenced_files;
use weir_checkpoint::{CheckpointError, CheckpointMetadata, CheckpointStorage};

/// The checkpoints a directory holds once its leftovers are removed.
#[derive(Default)]
pub(crate) struct Checkpoints {
    /// The complete ones that read.
    pub complete: Vec<CheckpointMetadata>,
    /// The id of every checkpoint directory that was there, complete or not.
    pub ids: Vec<u64>,
}

/// Removes the leftovers in `storage` (see the module's documentation) and
/// returns the checkpoints it holds.
pub(crate) async fn remove_leftovers(storage: &CheckpointStorage) -> Result<Checkpoints, CheckpointError> {
    let mut found = Checkpoints::default();
    for listing in storage.list_checkpoints().await? {
        found.ids.push(listing.id);
        if listing.complete {
            match storage.read_metadata(&listing.dir).await {
                Ok(meta) => found.complete.push(meta),
                Err(e) => tracing::warn!(checkpoint = listing.id, error = %e, "ignoring an unreadable checkpoint"),
            }
        } else {
            storage.delete_prefix(&listing.dir).await?;
        }
    }
    let referenced: BTreeSet<String> = found.complete.iter().flat_map(referenced_files).collect();
    for (path, _) in storage.list_files("shared").await? {
        if !referenced.contains(&path) {
            storage.delete(&path).await?;
        }
    }
    Ok(found)
}
