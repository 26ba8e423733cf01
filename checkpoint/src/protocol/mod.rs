//! The checkpoint protocol's decisions, as a pure state machine over data.
//!
//! Nothing here does I/O, waits or reads a clock: the coordinator in the
//! runtime feeds events into a [`Protocol`] and executes the [`Action`]s it
//! returns (send barriers, write `_metadata`, notify tasks, delete files).
//! That keeps the rules — when a checkpoint is due, complete, timed out or
//! subsumed, what is retained, which files may be deleted, how the job's last
//! checkpoint and stop-with-savepoint go — testable without a job or a file
//! system.
//!
//! All file paths returned here are *root-relative*: relative to the job's
//! checkpoint directory (the storage root), e.g. `chk-3/op-0.state` or
//! `shared/abc.sst`, ready for [`CheckpointStorage::delete`](crate::CheckpointStorage::delete).

mod events;
mod kind;
mod machine;
mod pending;
mod retention;

pub use events::{Action, Clock, Deletion, Event, Request, RequestId, Settings, Target, Trigger};
pub use kind::{SavepointFormat, SnapshotKind};
pub use machine::{savepoint_dir_name, Protocol};
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
mod machine_tests;
#[cfg(test)]
mod tests;
