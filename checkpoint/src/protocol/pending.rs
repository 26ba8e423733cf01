//! A checkpoint in flight: collects acknowledgements until every task has answered.

use std::collections::{BTreeMap, BTreeSet};

use crate::manifest::{checkpoint_dir_name, CheckpointMetadata, OperatorState, SubtaskState, FORMAT_VERSION, INLINE_VALUE_FORMAT};

/// Identifies a task: `(vertex, subtask)`.
pub type TaskId = (u32, u32);

/// What [`PendingCheckpoint::acknowledge`] made of an ack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckOutcome {
    /// Recorded; `remaining` tasks still have to acknowledge.
    Pending {
        /// Tasks that have not acknowledged yet.
        remaining: usize,
    },
    /// Recorded, and it was the last one: the checkpoint can be completed.
    Complete,
    /// The task had already acknowledged; the new ack was ignored.
    Duplicate,
    /// The task is not part of this checkpoint; the ack was ignored.
    UnknownTask,
}

#[derive(Debug, Clone)]
struct OperatorAcks {
    parallelism: u32,
    subtasks: BTreeMap<u32, SubtaskState>,
}

/// A checkpoint that has been triggered and is waiting for its tasks' acks.
#[derive(Debug, Clone)]
pub struct PendingCheckpoint {
    id: u64,
    timestamp_ms: u64,
    expected: BTreeSet<TaskId>,
    acked: BTreeSet<TaskId>,
    operators: BTreeMap<String, OperatorAcks>,
}

impl PendingCheckpoint {
    /// Checkpoint `id`, triggered at `timestamp_ms`, waiting for the `expected` tasks.
    ///
    /// With no expected task at all it is complete from the start.
    pub fn new(id: u64, timestamp_ms: u64, expected: impl IntoIterator<Item = TaskId>) -> Self {
        PendingCheckpoint { id, timestamp_ms, expected: expected.into_iter().collect(), acked: BTreeSet::new(), operators: BTreeMap::new() }
    }

    /// The checkpoint's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// When the checkpoint was triggered, ms since the Unix epoch.
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }

    /// Records `task`'s ack carrying the state of each operator it runs, as
    /// `(operator_id, parallelism, state)`.
    ///
    /// Acks from tasks that are not expected, or that already acknowledged,
    /// change nothing. If two acks disagree on an operator's parallelism, or
    /// report the same subtask of an operator twice, the first one wins.
    pub fn acknowledge(&mut self, task: TaskId, states: Vec<(String, u32, SubtaskState)>) -> AckOutcome {
        if !self.expected.contains(&task) {
            return AckOutcome::UnknownTask;
        }
        if !self.acked.insert(task) {
            return AckOutcome::Duplicate;
        }
        for (operator_id, parallelism, state) in states {
            let op = self.operators.entry(operator_id).or_insert(OperatorAcks { parallelism, subtasks: BTreeMap::new() });
            op.subtasks.entry(state.subtask).or_insert(state);
        }
        match self.remaining() {
            0 => AckOutcome::Complete,
            remaining => AckOutcome::Pending { remaining },
        }
    }

    /// Whether every expected task has acknowledged.
    pub fn is_complete(&self) -> bool {
        self.remaining() == 0
    }

    /// Number of tasks that have not acknowledged yet.
    pub fn remaining(&self) -> usize {
        self.expected.len() - self.acked.len()
    }

    /// The tasks that have not acknowledged yet, in order (for timeout messages).
    pub fn missing_tasks(&self) -> Vec<TaskId> {
        self.expected.difference(&self.acked).copied().collect()
    }

    /// The `_metadata` document of the checkpoint: operators sorted by id,
    /// subtasks sorted by index.
    pub fn into_metadata(self, job_name: &str, max_parallelism: u32) -> CheckpointMetadata {
        CheckpointMetadata {
            history: Vec::new(),
            format_version: FORMAT_VERSION,
            value_format: INLINE_VALUE_FORMAT,
            checkpoint_id: self.id,
            job_name: job_name.to_string(),
            timestamp_ms: self.timestamp_ms,
            max_parallelism,
            operators: self
                .operators
                .into_iter()
                .map(|(operator_id, acks)| OperatorState {
                    operator_id,
                    parallelism: acks.parallelism,
                    subtasks: acks.subtasks.into_values().collect(),
                })
                .collect(),
        }
    }

    /// Root-relative paths of all files acknowledged so far (files whose path
    /// would leave the root are left out).
    ///
    /// On abort, do not delete all of these: shared files may belong to
    /// retained checkpoints too. Use [`PendingCheckpoint::abort_deletable`].
    pub fn referenced_files(&self) -> BTreeSet<String> {
        let dir = checkpoint_dir_name(self.id);
        self.operators
            .values()
            .flat_map(|op| op.subtasks.values())
            .flat_map(|st| st.files.iter())
            .filter_map(|f| super::root_relative(&dir, &f.path))
            .collect()
    }

    /// The files to delete when this checkpoint is aborted: those acknowledged
    /// so far that no `retained` checkpoint references.
    pub fn abort_deletable(&self, retained: &[&CheckpointMetadata]) -> BTreeSet<String> {
        let keep: BTreeSet<String> = retained.iter().flat_map(|m| super::referenced_files(m)).collect();
        self.referenced_files().into_iter().filter(|p| !keep.contains(p)).collect()
    }
}
