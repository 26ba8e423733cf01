//! The protocol's vocabulary: the events it takes, the actions it returns,
//! and what they carry (settings, time, requests, targets, deletions).

use std::collections::BTreeSet;

use super::kind::{SavepointFormat, SnapshotKind};
use super::TaskId;
use crate::manifest::{CheckpointMetadata, SubtaskState};

/// The protocol's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Time between two periodic checkpoints, ms.
    pub interval_ms: u64,
    /// A snapshot not complete after this long is aborted, ms.
    pub timeout_ms: u64,
    /// Snapshots in flight at once before a periodic one waits.
    pub max_concurrent: usize,
    /// Completed checkpoints kept (at least 1).
    pub retained: usize,
    /// The job fails after this many failed attempts at its last checkpoint.
    pub max_final_attempts: u32,
}

/// The time of an event: monotonic for pacing and time-outs, wall-clock for
/// the timestamps written into `_metadata`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Monotonic milliseconds (any origin).
    pub mono_ms: u64,
    /// Milliseconds since the Unix epoch.
    pub wall_ms: u64,
}

/// Who asked for a snapshot, to be answered with [`Action::Reply`].
pub type RequestId = u64;

/// What a user or tool asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A checkpoint now (`full`: referencing nothing of earlier ones).
    Checkpoint {
        /// Whether it is a full checkpoint.
        full: bool,
    },
    /// A savepoint into a new directory under `dir`; the job goes on.
    Savepoint {
        /// The savepoint root, as the request named it.
        dir: String,
        /// Its format.
        format: SavepointFormat,
    },
    /// A savepoint into a new directory under `dir`, then the job's final
    /// checkpoint. The sources are stopped by the caller.
    StopWithSavepoint {
        /// The savepoint root, as the request named it.
        dir: String,
        /// Its format.
        format: SavepointFormat,
    },
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Time passed: due checkpoints are triggered, overdue ones time out.
    Tick,
    /// A request for a snapshot.
    Request(RequestId, Request),
    /// A task's part of a snapshot is durable.
    Ack {
        /// The snapshot.
        checkpoint: u64,
        /// The task.
        task: TaskId,
        /// `(operator id, parallelism, state)` of each operator of the task.
        states: Vec<(String, u32, SubtaskState)>,
    },
    /// A task could not take its part.
    Decline {
        /// The snapshot.
        checkpoint: u64,
        /// The task.
        task: TaskId,
        /// Why.
        reason: String,
    },
    /// The executor wrote (or failed to write) the `_metadata` that
    /// [`Action::WriteMetadata`] asked for.
    MetadataWritten {
        /// The snapshot.
        checkpoint: u64,
        /// The write's outcome.
        result: Result<(), String>,
    },
    /// The job was asked to stop (SIGINT, SIGTERM, a stop request): no more
    /// periodic checkpoints; the final one follows once the sources are done.
    Stop,
    /// A source has no more input, or was asked to stop.
    SourceExhausted(TaskId),
    /// A task ended.
    TaskEnded(TaskId),
}

/// Where a snapshot goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `chk-<id>` in the job's checkpoint directory.
    Checkpoint {
        /// `chk-<id>`.
        dir: String,
    },
    /// A savepoint's own directory `dir` under the savepoint root `root`.
    Savepoint {
        /// The savepoint root, as the request named it.
        root: String,
        /// The savepoint's directory, relative to `root`.
        dir: String,
    },
}

impl Target {
    /// The snapshot's directory, relative to its storage root.
    pub fn dir(&self) -> &str {
        match self {
            Target::Checkpoint { dir } | Target::Savepoint { dir, .. } => dir,
        }
    }
}

/// A snapshot to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// Its id.
    pub id: u64,
    /// Wall-clock time of the trigger, ms since the epoch (written into `_metadata`).
    pub timestamp_ms: u64,
    /// What it is.
    pub kind: SnapshotKind,
    /// The job's last checkpoint: end of input follows it.
    pub is_final: bool,
    /// Where it goes.
    pub target: Target,
}

/// Files to delete from the job's checkpoint directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Deletion {
    /// Root-relative paths, deleted in this order.
    pub files: Vec<String>,
    /// Directories swept afterwards: every file in them that `keep` does not name goes.
    pub sweep: Vec<String>,
    /// Root-relative paths that retained checkpoints still reference.
    pub keep: BTreeSet<String>,
}

/// What the executor does.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Tell every task where a savepoint goes, then send the barrier to every source.
    Trigger(Trigger),
    /// Write `metadata` as `<target>/_metadata`, create-only, then report [`Event::MetadataWritten`].
    WriteMetadata {
        /// The snapshot.
        id: u64,
        /// Where.
        target: Target,
        /// What.
        metadata: CheckpointMetadata,
    },
    /// The snapshot is complete: tell every task.
    NotifyComplete {
        /// The snapshot.
        id: u64,
        /// Its kind: sinks commit on checkpoints, not on savepoints.
        kind: SnapshotKind,
        /// The job's last checkpoint.
        is_final: bool,
    },
    /// The snapshot was aborted: tell every task.
    NotifyAbort {
        /// The snapshot.
        id: u64,
        /// Its kind.
        kind: SnapshotKind,
        /// Why.
        reason: String,
    },
    /// Delete files of the job's checkpoint directory.
    Delete(Deletion),
    /// Remove an aborted savepoint's directory.
    DeleteSavepoint {
        /// The savepoint root.
        root: String,
        /// The savepoint's directory under it.
        dir: String,
    },
    /// The job's first own checkpoint is complete: delete the restored
    /// checkpoint it claimed (`--restore-mode claim`).
    DeleteClaimed,
    /// Answer a request: the id of the completed snapshot, or why it failed.
    Reply {
        /// The request.
        request: RequestId,
        /// The snapshot's id, or the reason it failed.
        result: Result<u64, String>,
    },
    /// The job's last checkpoint is complete, or every task ended: stop coordinating.
    Finished,
    /// The job's last checkpoint failed too often: the job fails.
    Fail {
        /// The last attempt.
        checkpoint: u64,
        /// Why it failed.
        reason: String,
    },
}
