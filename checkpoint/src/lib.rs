//! Checkpoints of weir: the on-disk format, storage through `object_store`,
//! and the checkpoint protocol's decisions.
//!
//! A job's checkpoint directory looks like this (see the design document, §4):
//!
//! ```text
//! <checkpoint-dir>/
//!   shared/      files several checkpoints may reference, unique names
//!   chk-<N>/     one checkpoint; _metadata is written last
//! ```
//!
//! - [`manifest`]: the `_metadata` document ([`CheckpointMetadata`]), JSON,
//!   with relative paths, sizes and CRC-32C checksums of every file.
//! - [`CheckpointStorage`]: reads and writes that directory on a local disk,
//!   in memory or on S3, and [`open_checkpoint`] opens one checkpoint or
//!   savepoint for a restore, wherever it was copied to.
//! - [`protocol`]: pure decisions — when a checkpoint is complete, what is
//!   subsumed, which files may be deleted, the next checkpoint id.
//! - [`tools`]: list, inspect, verify, garbage-collect and promote
//!   checkpoints (the library half of `weir checkpoints`).
//! - [`lease`]: the lock file `<checkpoint-dir>/_job_lock` that says which job
//!   writes into a checkpoint directory ([`JobLock`]).
//! - [`SharedFileName`]: the names of files in `shared/`.
//! - `s3` (with the `s3` feature): how the S3 client of `s3://` locations is
//!   configured, and its time-outs and retries.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use weir_checkpoint::{
//!     AckOutcome, CheckpointStorage, KeyGroupRange, PendingCheckpoint, SubtaskState,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! rt.block_on(async {
//!     let storage = CheckpointStorage::in_memory();
//!     let dir = CheckpointStorage::checkpoint_dir(1); // "chk-1"
//!
//!     // A task uploads its state and acknowledges.
//!     let file = storage
//!         .write_state_file(&dir, "op-count-0.state", Bytes::from_static(b"state"), vec![])
//!         .await?;
//!     let state = SubtaskState {
//!         subtask: 0,
//!         key_groups: Some(KeyGroupRange::new(0, 127)),
//!         files: vec![file],
//!         inline: None,
//!     };
//!     let mut pending = PendingCheckpoint::new(1, 0, [(0, 0)]);
//!     assert_eq!(pending.acknowledge((0, 0), vec![("count".into(), 1, state)]), AckOutcome::Complete);
//!
//!     // The coordinator completes it by writing _metadata last.
//!     storage.write_metadata(&pending.into_metadata("example", 128)).await?;
//!     assert_eq!(storage.latest_complete().await?, Some(1));
//!
//!     // A restore reads it back, checking sizes and checksums.
//!     let meta = storage.read_metadata(&dir).await?;
//!     let op = meta.operator("count").ok_or("operator missing")?;
//!     let bytes = storage.read_state_file(&dir, &op.subtasks[0].files[0]).await?;
//!     assert_eq!(&bytes[..], b"state");
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod checksum;
mod error;
mod hex;
mod key_groups;
pub mod lease;
mod location;
pub mod manifest;
mod paths;
pub mod protocol;
#[cfg(feature = "s3")]
pub mod s3;
mod shared_name;
mod storage;
pub mod tools;
mod utc;

pub use checksum::{checksum, checksum_file};
pub use error::CheckpointError;
pub use lease::{JobLock, LockInfo, LockStatus, JOB_LOCK_FILE};
pub use location::CheckpointLocation;
pub use manifest::{
    parse_checkpoint_dir, CheckpointMetadata, KeyGroupOffset, KeyGroupRange, OperatorState, SnapshotStats, StateFile, SubtaskState,
    FORMAT_VERSION, HISTORY_LEN, INLINE_VALUE_FORMAT, METADATA_FILE,
};
pub use protocol::{AckOutcome, PendingCheckpoint, TaskId};
pub use shared_name::SharedFileName;
pub use storage::{open_checkpoint, CheckpointListing, CheckpointStorage, Expected};
