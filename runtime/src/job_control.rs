//! Controlling a running job: its status and checkpoint history, and
//! requests to checkpoint, take a savepoint or stop. The control endpoint
//! (`--control-addr`) serves these over HTTP.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{bounded, Receiver, Sender};
use serde::Serialize;

pub use weir_checkpoint::protocol::{SavepointFormat, SnapshotKind};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Restoring and starting its tasks.
    Starting,
    /// Processing.
    Running,
    /// Asked to stop: taking its final checkpoint.
    Stopping,
    /// A task failed: waiting to restore from the newest checkpoint.
    Restarting,
    /// Done.
    Finished,
    /// Failed.
    Failed,
}

/// One operator of the job.
#[derive(Debug, Clone, Serialize)]
pub struct OperatorStatus {
    /// Its id (the task's name for chained operators).
    pub id: String,
    /// Its instances.
    pub parallelism: u32,
}

/// What became of a checkpoint, a full checkpoint or a savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointStatus {
    /// Triggered, not complete yet.
    InProgress,
    /// Its `_metadata` is written.
    Completed,
    /// Aborted (declined, timed out, failed to write).
    Failed,
}

/// One entry of the checkpoint history.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointRecord {
    /// Its id.
    pub id: u64,
    /// Checkpoint, full checkpoint or savepoint (and its format).
    #[serde(flatten)]
    pub kind: SnapshotKind,
    /// What became of it.
    pub status: CheckpointStatus,
    /// Trigger time, ms since the Unix epoch.
    pub trigger_time_ms: u64,
    /// Trigger to `_metadata` written (or to failure), ms.
    pub duration_ms: u64,
    /// Longest synchronous phase of a task, ms.
    pub sync_ms: u64,
    /// Longest asynchronous phase of a task, ms.
    pub async_ms: u64,
    /// Longest barrier alignment of a task, ms.
    pub alignment_ms: u64,
    /// Longest time from the trigger to a task's first barrier, ms.
    pub start_delay_ms: u64,
    /// Bytes written for it.
    pub bytes_written: u64,
    /// Bytes of everything it references (its full size).
    pub full_size: u64,
    /// Where its `_metadata` is.
    pub path: Option<String>,
    /// Why it failed.
    pub failure: Option<String>,
}

impl CheckpointRecord {
    /// The record of a completed snapshot as a `_metadata` keeps its
    /// figures (from an earlier run), if its kind is one this build knows.
    pub fn from_stats(s: &weir_checkpoint::SnapshotStats) -> Option<Self> {
        let kind = match (s.kind.as_str(), s.format.as_deref()) {
            ("checkpoint", _) => SnapshotKind::Checkpoint,
            ("full_checkpoint", _) => SnapshotKind::FullCheckpoint,
            ("savepoint", Some(f)) => SnapshotKind::Savepoint(f.parse().ok()?),
            _ => return None,
        };
        Some(CheckpointRecord {
            id: s.id,
            kind,
            status: CheckpointStatus::Completed,
            trigger_time_ms: s.trigger_time_ms,
            duration_ms: s.duration_ms,
            sync_ms: s.sync_ms,
            async_ms: s.async_ms,
            alignment_ms: s.alignment_ms,
            start_delay_ms: s.start_delay_ms,
            bytes_written: s.bytes_written,
            full_size: s.full_size,
            path: None,
            failure: None,
        })
    }
}

/// A running job's status.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// The job's name.
    pub job_name: String,
    /// Where it is in its life.
    pub state: JobState,
    /// Instances of each operator.
    pub parallelism: u32,
    /// Key groups.
    pub max_parallelism: u32,
    /// Its tasks (operators chained into one task share it).
    pub operators: Vec<OperatorStatus>,
    /// The checkpoint it restored from.
    pub restored_from: Option<String>,
    /// Checkpoints and savepoints of this run, oldest first (the last 1000).
    pub checkpoints: Vec<CheckpointRecord>,
    /// Restarts after task failures so far.
    pub restarts: u32,
    /// The cause of the last task failure.
    pub last_failure: Option<String>,
    /// When the job last restored after a failure (ms since the Unix epoch).
    pub last_restore_ms: Option<i64>,
}

/// How the answer to a request arrives: once, when it is settled.
pub type Reply<T> = Receiver<Result<T, String>>;

/// A request to the checkpoint coordinator.
#[derive(Debug)]
pub(crate) enum Command {
    /// Take a checkpoint now.
    Checkpoint { full: bool, reply: Sender<Result<CheckpointRecord, String>> },
    /// Take a savepoint into a new directory under `dir`; with `stop`, as the
    /// job's final checkpoint.
    Savepoint { dir: String, format: SavepointFormat, stop: bool, reply: Sender<Result<CheckpointRecord, String>> },
}

/// A handle on a running job. Cheap to clone.
#[derive(Clone)]
pub struct JobControl {
    pub(crate) commands: Option<Sender<Command>>,
    pub(crate) status: Arc<Mutex<JobStatus>>,
    pub(crate) stop: Arc<AtomicBool>,
}

impl JobControl {
    pub(crate) fn new(status: JobStatus, commands: Option<Sender<Command>>, stop: Arc<AtomicBool>) -> Self {
        JobControl { commands, status: Arc::new(Mutex::new(status)), stop }
    }

    /// The job's status now.
    pub fn status(&self) -> JobStatus {
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut JobStatus)) {
        match self.status.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    fn send(&self, make: impl FnOnce(Sender<Result<CheckpointRecord, String>>) -> Command) -> Reply<CheckpointRecord> {
        let (tx, rx) = bounded(1);
        match &self.commands {
            Some(commands) => {
                if let Err(e) = commands.send(make(tx)) {
                    if let Some(reply) = e.0.reply() {
                        let _ = reply.send(Err("the job is no longer taking checkpoints".into()));
                    }
                }
            }
            None => {
                let _ = tx.send(Err("the job runs without checkpoints (no --checkpoint-dir)".into()));
            }
        }
        rx
    }

    /// Triggers a checkpoint now (`full`: referencing nothing from earlier
    /// ones); the reply comes when it completes or fails.
    pub fn checkpoint(&self, full: bool) -> Reply<CheckpointRecord> {
        self.send(|reply| Command::Checkpoint { full, reply })
    }

    /// Triggers a savepoint into a new directory under `dir`; the reply
    /// (with its path) comes when it completes or fails. With `stop`, the
    /// job stops: the sources stop, the savepoint is taken, then the final
    /// checkpoint (which commits the sinks' output).
    pub fn savepoint(&self, dir: &str, format: SavepointFormat, stop: bool) -> Reply<CheckpointRecord> {
        let reply = self.send(|reply| Command::Savepoint { dir: dir.to_string(), format, stop, reply });
        if stop {
            self.stop();
        }
        reply
    }

    /// Whether the job was asked to stop (a signal, a stop request).
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Stops the job as SIGTERM does: sources stop, a final checkpoint is taken, sinks commit.
    pub fn stop(&self) {
        self.update(|s| {
            if s.state == JobState::Running || s.state == JobState::Starting {
                s.state = JobState::Stopping;
            }
        });
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The history keeps this many entries.
const HISTORY: usize = 1000;

impl JobControl {
    /// Records a triggered checkpoint.
    pub(crate) fn triggered(&self, id: u64, kind: SnapshotKind, trigger_time_ms: u64) {
        self.update(|s| {
            s.checkpoints.push(CheckpointRecord {
                id,
                kind,
                status: CheckpointStatus::InProgress,
                trigger_time_ms,
                duration_ms: 0,
                sync_ms: 0,
                async_ms: 0,
                alignment_ms: 0,
                start_delay_ms: 0,
                bytes_written: 0,
                full_size: 0,
                path: None,
                failure: None,
            });
            if s.checkpoints.len() > HISTORY {
                s.checkpoints.remove(0);
            }
        });
    }

    /// Checkpoint `id`'s record.
    pub(crate) fn record(&self, id: u64) -> Option<CheckpointRecord> {
        self.status().checkpoints.iter().rev().find(|r| r.id == id).cloned()
    }

    /// Updates checkpoint `id`'s record and returns it.
    pub(crate) fn settle(&self, id: u64, f: impl FnOnce(&mut CheckpointRecord)) -> Option<CheckpointRecord> {
        let mut out = None;
        self.update(|s| {
            if let Some(r) = s.checkpoints.iter_mut().rev().find(|r| r.id == id) {
                f(r);
                out = Some(r.clone());
            }
        });
        out
    }
}

impl Command {
    fn reply(self) -> Option<Sender<Result<CheckpointRecord, String>>> {
        match self {
            Command::Checkpoint { reply, .. } | Command::Savepoint { reply, .. } => Some(reply),
        }
    }
}
