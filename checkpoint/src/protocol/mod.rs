//! The checkpoint protocol's decisions, as pure functions over data.
//!
//! Nothing here does I/O or waits: the coordinator in the runtime feeds acks
//! in and acts on the answers (write `_metadata`, delete files). That keeps the
//! rules — when a checkpoint is complete, what is subsumed, which files may be
//! deleted, which id comes next — testable without a job or a file system.
//!
//! All file paths returned here are *root-relative*: relative to the job's
//! checkpoint directory (the storage root), e.g. `chk-3/op-0.state` or
//! `shared/abc.sst`, ready for [`CheckpointStorage::delete`](crate::CheckpointStorage::delete).

mod pending;
mod retention;

pub use pending::{AckOutcome, PendingCheckpoint, TaskId};
pub use retention::{deletable_files, next_checkpoint_id, referenced_files, referenced_files_in, subsumed};

/// The root-relative path of `file_path` (as written in a `_metadata` held in
/// `checkpoint_dir`), with `.` and `..` resolved.
///
/// `None` if the path is absolute, leaves the root, or names the root itself.
pub fn root_relative(checkpoint_dir: &str, file_path: &str) -> Option<String> {
    crate::paths::join_normalized(checkpoint_dir, file_path).filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests;
