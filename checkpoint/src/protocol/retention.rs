//! Retention: which completed checkpoints are subsumed, which files may go,
//! and which id the next checkpoint gets.

use std::collections::BTreeSet;

use crate::manifest::{checkpoint_dir_name, CheckpointMetadata};

/// Root-relative paths of every file `meta` references, assuming its
/// `_metadata` lives in `chk-<checkpoint_id>` under the root (true for the
/// checkpoints of the job's own checkpoint directory).
pub fn referenced_files(meta: &CheckpointMetadata) -> BTreeSet<String> {
    referenced_files_in(&checkpoint_dir_name(meta.checkpoint_id), meta)
}

/// Root-relative paths of every file `meta` references, for a `_metadata`
/// held in `checkpoint_dir` (relative to the root). Paths that would leave the
/// root are left out: they cannot be deleted through this root anyway.
pub fn referenced_files_in(checkpoint_dir: &str, meta: &CheckpointMetadata) -> BTreeSet<String> {
    meta.files().filter_map(|f| super::root_relative(checkpoint_dir, &f.path)).collect()
}

/// The completed checkpoint ids beyond the newest `retain` ones, ascending.
///
/// `retain` is at least 1: the newest completed checkpoint is never subsumed.
pub fn subsumed(completed: &[u64], retain: usize) -> Vec<u64> {
    let ids: BTreeSet<u64> = completed.iter().copied().collect();
    let keep = retain.max(1);
    let discard = ids.len().saturating_sub(keep);
    ids.into_iter().take(discard).collect()
}

/// Root-relative paths referenced by a `discarded` checkpoint and by no
/// `retained` one: exactly the files that may be deleted. Files in `shared/`
/// that a retained incremental checkpoint still uses are kept.
///
/// The discarded checkpoints' `_metadata` files are not included; delete them
/// first, so that a crash during cleanup leaves an incomplete checkpoint
/// rather than one that looks complete but lacks files.
pub fn deletable_files(retained: &[&CheckpointMetadata], discarded: &[&CheckpointMetadata]) -> BTreeSet<String> {
    let keep: BTreeSet<String> = retained.iter().flat_map(|m| referenced_files(m)).collect();
    discarded.iter().flat_map(|m| referenced_files(m)).filter(|p| !keep.contains(p)).collect()
}

/// The id of the next checkpoint: greater than every existing checkpoint
/// directory (complete or not) and than the checkpoint restored from, and at
/// least 1.
pub fn next_checkpoint_id(existing: &[u64], restored_from: Option<u64>) -> u64 {
    existing.iter().copied().chain(restored_from).max().map_or(1, |max| max.saturating_add(1))
}
