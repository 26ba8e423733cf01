//! Messages between the checkpoint coordinator and the tasks.

use std::time::Duration;

use weir_checkpoint::{CheckpointStorage, SubtaskState, TaskId};

use crate::{Barrier, Notification};

/// From the coordinator to a task.
#[derive(Debug, Clone)]
pub enum Control {
    /// Sources only: emit this barrier.
    Trigger(Barrier),
    /// Savepoint `id` goes into `dir` (relative to `storage`'s root): sent to
    /// every task before the sources emit its barrier.
    SavepointTarget {
        /// The savepoint's checkpoint id.
        id: u64,
        /// Storage rooted at the savepoint directory.
        storage: CheckpointStorage,
        /// The savepoint's own directory under that root.
        dir: String,
    },
    /// A snapshot is complete: sinks commit if it is a checkpoint.
    Complete(Notification),
    /// A snapshot was aborted: discard what was prepared for it.
    Abort(Notification),
    /// Stop now; the job failed elsewhere.
    Cancel,
}

/// Timings and sizes of one task's part of a checkpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct AckStats {
    /// Synchronous phase.
    pub sync: Duration,
    /// Asynchronous phase.
    pub async_: Duration,
    /// Time from the first barrier to the last one on the task's inputs.
    pub alignment: Duration,
    /// Time from the trigger to the task's first barrier (a source: to the trigger's arrival).
    pub start_delay: Duration,
    /// Bytes written.
    pub bytes: u64,
}

/// From a task to the coordinator.
#[derive(Debug)]
pub enum TaskEvent {
    /// The task's part of a checkpoint is durable.
    Ack {
        /// Checkpoint id.
        checkpoint: u64,
        /// The task.
        task: TaskId,
        /// `(operator id, parallelism, state)` of each stateful operator in the task.
        states: Vec<(String, u32, SubtaskState)>,
        /// Timings and sizes.
        stats: AckStats,
    },
    /// The task could not take its part of a checkpoint.
    Decline {
        /// Checkpoint id.
        checkpoint: u64,
        /// The task.
        task: TaskId,
        /// Why.
        reason: String,
    },
    /// A source has no more input (or was asked to stop).
    SourceExhausted(TaskId),
    /// A task ended (successfully or not).
    TaskEnded(TaskId),
}

/// How long after `barrier`'s trigger the task got it, `arrived` being when it did.
pub(crate) fn since_trigger(barrier: &Barrier, arrived: std::time::Instant) -> Duration {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let arrived_ms = now_ms.saturating_sub(arrived.elapsed().as_millis() as u64);
    Duration::from_millis(arrived_ms.saturating_sub(barrier.timestamp_ms))
}
