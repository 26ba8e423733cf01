//! The checkpoint coordinator: triggers checkpoints, collects acknowledgements,
//! writes `_metadata` last, notifies tasks, applies retention and aborts what
//! fails or times out. Decisions come from `weir_checkpoint::protocol`; this
//! module only does the I/O around them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{select, tick, Receiver, Sender};
use tracing::{info, warn};
use weir_checkpoint::protocol::{self, AckOutcome, PendingCheckpoint};
use weir_checkpoint::{CheckpointMetadata, CheckpointStorage, TaskId};

use crate::job_control::Command;
use crate::restore::Claimed;
use crate::{
    AckStats, Barrier, CheckpointConfig, CheckpointRecord, CheckpointStatus, Control, JobControl, JobError, SavepointFormat, SnapshotKind,
    TaskEvent,
};

/// How often the final checkpoint is tried before the job fails.
const MAX_FINAL_ATTEMPTS: u32 = 10;

struct Pending {
    checkpoint: PendingCheckpoint,
    started: Instant,
    is_final: bool,
    stats: AckStats,
    kind: SnapshotKind,
    /// Savepoints: the storage rooted at the savepoint directory, and the savepoint's own directory.
    target: Option<(CheckpointStorage, String)>,
    /// Who asked for it, waiting for the outcome.
    reply: Option<Sender<Result<CheckpointRecord, String>>>,
}

/// A stop-with-savepoint request, taken as the final checkpoint.
type FinalSavepoint = (String, SavepointFormat, Sender<Result<CheckpointRecord, String>>);

/// One completed checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointStats {
    /// Its id.
    pub id: u64,
    /// From trigger to `_metadata` written.
    pub duration: Duration,
    /// The longest synchronous phase of any task.
    pub sync: Duration,
    /// The longest asynchronous phase of any task.
    pub async_: Duration,
    /// The longest barrier alignment of any task.
    pub alignment: Duration,
    /// The longest time from the trigger to a task's first barrier: how long
    /// barriers queued behind records.
    pub start_delay: Duration,
    /// Bytes written for it (not those it references from earlier checkpoints).
    pub bytes_written: u64,
    /// Bytes of all the files and inline state it references.
    pub bytes_referenced: u64,
}

/// What the coordinator reports when the job ends.
#[derive(Debug, Default, Clone)]
pub struct CheckpointSummary {
    /// Every checkpoint completed in this run, oldest first.
    pub history: Vec<CheckpointStats>,
    /// Checkpoints completed in this run.
    pub completed: u64,
    /// Checkpoints aborted in this run.
    pub aborted: u64,
    /// The newest completed checkpoint.
    pub last_completed: Option<u64>,
}

pub(crate) struct Coordinator {
    pub storage: CheckpointStorage,
    pub config: CheckpointConfig,
    pub job_name: String,
    pub max_parallelism: u32,
    pub tasks: Vec<(TaskId, Sender<Control>, bool)>,
    pub events: Receiver<TaskEvent>,
    pub runtime: tokio::runtime::Handle,
    pub next_id: u64,
    /// Completed checkpoints that are retained, oldest first.
    pub completed: Vec<CheckpointMetadata>,
    /// Subsumed checkpoints whose files are not deleted yet: a checkpoint in
    /// flight may still reference their shared files.
    pub discarded: Vec<CheckpointMetadata>,
    /// Requests (checkpoint now, savepoint).
    pub commands: Option<Receiver<Command>>,
    /// Where the checkpoint history is published.
    pub control: JobControl,
    /// A restored checkpoint the job took over: deleted once its first own checkpoint completes.
    pub claimed: Option<Claimed>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Coordinator {
    /// Runs until the final checkpoint completes or every task ended; when it
    /// fails, it cancels the tasks (they may be waiting for a notification).
    pub(crate) fn run(mut self) -> Result<CheckpointSummary, JobError> {
        let result = self.run_loop();
        if result.is_err() {
            self.notify(Control::Cancel);
        }
        result
    }

    fn run_loop(&mut self) -> Result<CheckpointSummary, JobError> {
        let mut summary = CheckpointSummary::default();
        let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
        let mut exhausted: BTreeSet<TaskId> = BTreeSet::new();
        let mut ended: BTreeSet<TaskId> = BTreeSet::new();
        let sources: BTreeSet<TaskId> = self.tasks.iter().filter(|t| t.2).map(|t| t.0).collect();
        let all: Vec<TaskId> = self.tasks.iter().map(|t| t.0).collect();
        let ticker = tick(self.config.interval);
        let mut final_triggered = false;
        let mut final_failures = 0u32;
        let commands = self.commands.clone().unwrap_or_else(crossbeam_channel::never);
        let mut final_savepoint: Option<FinalSavepoint> = None;
        loop {
            select! {
                recv(commands) -> cmd => {
                    if let Ok(cmd) = cmd {
                        self.command(cmd, &all, &mut pending, &mut final_savepoint, final_triggered);
                    }
                }
                recv(self.events) -> ev => {
                    let Ok(ev) = ev else { break };
                    match ev {
                        TaskEvent::Ack { checkpoint, task, states, stats } => {
                            let Some(p) = pending.get_mut(&checkpoint) else {
                                // A late acknowledgement of an aborted checkpoint: remove what it wrote.
                                self.discard_late_ack(checkpoint, &states);
                                continue;
                            };
                            p.stats.sync = p.stats.sync.max(stats.sync);
                            p.stats.async_ = p.stats.async_.max(stats.async_);
                            p.stats.alignment = p.stats.alignment.max(stats.alignment);
                            p.stats.start_delay = p.stats.start_delay.max(stats.start_delay);
                            p.stats.bytes += stats.bytes;
                            if let AckOutcome::Complete = p.checkpoint.acknowledge(task, states) {
                                if let Some(p) = pending.remove(&checkpoint) {
                                    let is_final = p.is_final;
                                    let savepoint = p.target.is_some();
                                    let others_in_flight = pending.keys().any(|id| *id > checkpoint);
                                    match self.complete(p, others_in_flight) {
                                        Ok(stats) => {
                                            summary.history.push(stats);
                                            summary.completed += 1;
                                            summary.last_completed = Some(checkpoint);
                                            if is_final {
                                                return Ok(summary);
                                            }
                                            // Older checkpoints still in flight are subsumed by this one
                                            // (a savepoint subsumes nothing).
                                            let older: Vec<u64> = if savepoint {
                                                Vec::new()
                                            } else {
                                                pending.range(..checkpoint).filter(|(_, p)| p.target.is_none()).map(|(id, _)| *id).collect()
                                            };
                                            for id in older {
                                                if let Some(p) = pending.remove(&id) {
                                                    self.abort(p, &format!("subsumed by checkpoint {checkpoint}, which completed first"));
                                                    summary.aborted += 1;
                                                }
                                            }
                                        }
                                        Err(reason) => {
                                            summary.aborted += 1;
                                            if is_final {
                                                self.final_failed(checkpoint, reason, &mut final_failures, &mut final_triggered)?;
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        TaskEvent::Decline { checkpoint, task, reason } => {
                            if let Some(p) = pending.remove(&checkpoint) {
                                let is_final = p.is_final;
                                let reason = format!("task {task:?} declined: {reason}");
                                self.abort(p, &reason);
                                summary.aborted += 1;
                                if is_final {
                                    self.final_failed(checkpoint, reason, &mut final_failures, &mut final_triggered)?;
                                }
                            }
                        }
                        TaskEvent::SourceExhausted(task) => {
                            exhausted.insert(task);
                        }
                        TaskEvent::TaskEnded(task) => {
                            ended.insert(task);
                            if ended.len() == all.len() {
                                break;
                            }
                        }
                    }
                }
                recv(ticker) -> _ => {
                    if !final_triggered && pending.len() < self.config.max_concurrent.max(1) && exhausted.len() < sources.len() {
                        let p = self.trigger(&all, false, SnapshotKind::Checkpoint, None);
                        pending.insert(p.checkpoint.id(), p);
                    }
                }
                default(Duration::from_millis(20)) => {}
            }
            // Time-outs.
            let expired: Vec<u64> = pending.iter().filter(|(_, p)| p.started.elapsed() > self.config.timeout).map(|(id, _)| *id).collect();
            for id in expired {
                if let Some(p) = pending.remove(&id) {
                    let is_final = p.is_final;
                    let reason = format!("timed out after {:?}, waiting for tasks {:?}", self.config.timeout, p.checkpoint.missing_tasks());
                    self.abort(p, &reason);
                    summary.aborted += 1;
                    if is_final {
                        self.final_failed(id, reason, &mut final_failures, &mut final_triggered)?;
                    }
                }
            }
            // Every source is done: take the final checkpoint once nothing else is in flight.
            if !final_triggered && !sources.is_empty() && exhausted.len() == sources.len() && pending.is_empty() {
                // A stop-with-savepoint request sent before the stop takes effect.
                while let Ok(cmd) = commands.try_recv() {
                    self.command(cmd, &all, &mut pending, &mut final_savepoint, final_triggered);
                }
                if pending.is_empty() {
                    final_triggered = true;
                    let p = match final_savepoint.take() {
                        Some((dir, format, reply)) => match CheckpointStorage::open(&dir) {
                            Ok(root) => {
                                let mut p = self.trigger(&all, true, SnapshotKind::Savepoint(format), Some(root));
                                p.reply = Some(reply);
                                p
                            }
                            Err(e) => {
                                let _ = reply.send(Err(format!("savepoint directory {dir}: {e}")));
                                self.trigger(&all, true, SnapshotKind::Checkpoint, None)
                            }
                        },
                        None => self.trigger(&all, true, SnapshotKind::Checkpoint, None),
                    };
                    pending.insert(p.checkpoint.id(), p);
                }
            }
        }
        Ok(summary)
    }

    /// A final checkpoint failed: take another, up to a limit.
    fn final_failed(&self, id: u64, reason: String, failures: &mut u32, triggered: &mut bool) -> Result<(), JobError> {
        *failures += 1;
        if *failures >= MAX_FINAL_ATTEMPTS {
            return Err(JobError::FinalCheckpointFailed(id, format!("{reason} (attempt {failures} of {MAX_FINAL_ATTEMPTS})")));
        }
        warn!(checkpoint = id, attempt = *failures, "the final checkpoint failed; taking another");
        *triggered = false;
        Ok(())
    }

    /// Handles a request: a checkpoint now, a savepoint now, or a savepoint as the final checkpoint.
    fn command(
        &mut self,
        cmd: Command,
        all: &[TaskId],
        pending: &mut BTreeMap<u64, Pending>,
        final_savepoint: &mut Option<FinalSavepoint>,
        final_triggered: bool,
    ) {
        let (kind, root, reply) = match cmd {
            Command::Checkpoint { full, reply } => {
                (if full { SnapshotKind::FullCheckpoint } else { SnapshotKind::Checkpoint }, None, reply)
            }
            Command::Savepoint { dir, format, stop: true, reply } => {
                if final_triggered || final_savepoint.is_some() {
                    let _ = reply.send(Err("the job is already stopping".into()));
                } else {
                    *final_savepoint = Some((dir, format, reply));
                }
                return;
            }
            Command::Savepoint { dir, format, stop: false, reply } => match CheckpointStorage::open(&dir) {
                Ok(root) => (SnapshotKind::Savepoint(format), Some(root), reply),
                Err(e) => {
                    let _ = reply.send(Err(format!("savepoint directory {dir}: {e}")));
                    return;
                }
            },
        };
        if final_triggered {
            let _ = reply.send(Err("the job is stopping: its final checkpoint is under way".into()));
            return;
        }
        let mut p = self.trigger(all, false, kind, root);
        p.reply = Some(reply);
        pending.insert(p.checkpoint.id(), p);
    }

    fn trigger(&mut self, all: &[TaskId], is_final: bool, kind: SnapshotKind, savepoint_root: Option<CheckpointStorage>) -> Pending {
        let id = self.next_id;
        self.next_id += 1;
        let ts = now_ms();
        let target = savepoint_root.map(|storage| (storage, format!("savepoint-{id}-{ts}")));
        if let Some((storage, dir)) = &target {
            // Every task learns where the savepoint goes before any barrier of it exists.
            self.notify(Control::SavepointTarget { id, storage: storage.clone(), dir: dir.clone() });
        }
        self.control.triggered(id, kind, ts);
        let barrier = Barrier { id, timestamp_ms: ts, is_final, kind };
        for (_, tx, is_source) in &self.tasks {
            if *is_source {
                let _ = tx.send(Control::Trigger(barrier));
            }
        }
        metrics::counter!("weir_checkpoints_triggered_total").increment(1);
        Pending {
            checkpoint: PendingCheckpoint::new(id, ts, all.iter().copied()),
            started: Instant::now(),
            is_final,
            stats: AckStats::default(),
            kind,
            target,
            reply: None,
        }
    }

    /// Writes `_metadata`, notifies the tasks and applies retention (deleting
    /// subsumed checkpoints only once no other checkpoint is in flight).
    fn complete(&mut self, p: Pending, others_in_flight: bool) -> Result<CheckpointStats, String> {
        let id = p.checkpoint.id();
        let meta = p.checkpoint.into_metadata(&self.job_name, self.max_parallelism);
        let (storage, dir) = match &p.target {
            Some((storage, dir)) => (storage.clone(), dir.clone()),
            None => (self.storage.clone(), CheckpointStorage::checkpoint_dir(id)),
        };
        if let Err(e) = self.runtime.block_on(storage.write_metadata_in(&dir, &meta)) {
            let reason = format!("writing _metadata failed: {e}");
            warn!(checkpoint = id, %reason, "checkpoint failed");
            metrics::counter!("weir_checkpoints_failed_total").increment(1);
            let _ = self.runtime.block_on(storage.delete_prefix(&dir));
            self.notify(Control::Abort(id));
            self.settle_failed(id, &reason, p.reply);
            return Err(reason);
        }
        let duration = p.started.elapsed();
        let referenced: u64 = meta.files().map(|f| f.size).sum::<u64>()
            + meta.operators.iter().flat_map(|o| &o.subtasks).filter_map(|s| s.inline.as_ref()).map(|b| b.len() as u64).sum::<u64>();
        info!(
            checkpoint = id,
            duration_ms = duration.as_millis() as u64,
            sync_ms = p.stats.sync.as_millis() as u64,
            async_ms = p.stats.async_.as_millis() as u64,
            alignment_ms = p.stats.alignment.as_millis() as u64,
            start_delay_ms = p.stats.start_delay.as_millis() as u64,
            bytes_written = p.stats.bytes,
            bytes_referenced = referenced,
            path = %storage.describe(&dir),
            "{} complete",
            match p.kind {
                SnapshotKind::Checkpoint => "checkpoint",
                SnapshotKind::FullCheckpoint => "full checkpoint",
                SnapshotKind::Savepoint(_) => "savepoint",
            }
        );
        metrics::counter!("weir_checkpoints_completed_total").increment(1);
        metrics::histogram!("weir_checkpoint_duration_seconds").record(duration.as_secs_f64());
        metrics::histogram!("weir_checkpoint_sync_seconds").record(p.stats.sync.as_secs_f64());
        metrics::histogram!("weir_checkpoint_async_seconds").record(p.stats.async_.as_secs_f64());
        metrics::histogram!("weir_checkpoint_alignment_seconds").record(p.stats.alignment.as_secs_f64());
        metrics::histogram!("weir_checkpoint_start_delay_seconds").record(p.stats.start_delay.as_secs_f64());
        metrics::histogram!("weir_checkpoint_bytes_written").record(p.stats.bytes as f64);
        metrics::histogram!("weir_checkpoint_bytes_referenced").record(referenced as f64);
        self.notify(Control::Complete(id));
        let record = self.control.settle(id, |r| {
            r.status = CheckpointStatus::Completed;
            r.duration_ms = duration.as_millis() as u64;
            r.sync_ms = p.stats.sync.as_millis() as u64;
            r.async_ms = p.stats.async_.as_millis() as u64;
            r.alignment_ms = p.stats.alignment.as_millis() as u64;
            r.start_delay_ms = p.stats.start_delay.as_millis() as u64;
            r.bytes_written = p.stats.bytes;
            r.full_size = referenced;
            r.path = Some(storage.describe(&dir));
        });
        if let (Some(reply), Some(record)) = (p.reply, record) {
            let _ = reply.send(Ok(record));
        }
        // weir never deletes a savepoint: it is not one of the retained checkpoints.
        if p.target.is_none() {
            self.completed.push(meta);
            self.apply_retention(others_in_flight);
            if let Some(claimed) = self.claimed.take() {
                let path = claimed.storage.describe(&claimed.dir);
                match self.runtime.block_on(claimed.delete()) {
                    Ok(()) => info!(checkpoint = id, claimed = %path, "the claimed checkpoint is subsumed and deleted"),
                    Err(e) => warn!(claimed = %path, error = %e, "deleting the claimed checkpoint failed; its files stay behind"),
                }
            }
        }
        Ok(CheckpointStats {
            id,
            duration,
            sync: p.stats.sync,
            async_: p.stats.async_,
            alignment: p.stats.alignment,
            start_delay: p.stats.start_delay,
            bytes_written: p.stats.bytes,
            bytes_referenced: referenced,
        })
    }

    fn apply_retention(&mut self, others_in_flight: bool) {
        let ids: Vec<u64> = self.completed.iter().map(|m| m.checkpoint_id).collect();
        let subsumed: BTreeSet<u64> = protocol::subsumed(&ids, self.config.retained).into_iter().collect();
        let (discarded, retained): (Vec<CheckpointMetadata>, Vec<CheckpointMetadata>) =
            std::mem::take(&mut self.completed).into_iter().partition(|m| subsumed.contains(&m.checkpoint_id));
        self.completed = retained;
        self.discarded.extend(discarded);
        if others_in_flight || self.discarded.is_empty() {
            return;
        }
        let keep: Vec<&CheckpointMetadata> = self.completed.iter().collect();
        let drop: Vec<&CheckpointMetadata> = self.discarded.iter().collect();
        if let Err(e) = self.runtime.block_on(self.storage.discard_checkpoints(&keep, &drop)) {
            warn!(error = %e, "removing subsumed checkpoints failed; their files stay behind");
        }
        self.discarded.clear();
    }

    fn abort(&mut self, p: Pending, reason: &str) {
        let id = p.checkpoint.id();
        warn!(checkpoint = id, reason, "checkpoint failed");
        metrics::counter!("weir_checkpoints_failed_total").increment(1);
        self.notify(Control::Abort(id));
        let removed = match &p.target {
            Some((storage, dir)) => self.runtime.block_on(storage.delete_prefix(dir)),
            None => {
                let retained: Vec<&CheckpointMetadata> = self.completed.iter().chain(self.discarded.iter()).collect();
                self.runtime.block_on(self.storage.abort_checkpoint(&p.checkpoint, &retained))
            }
        };
        if let Err(e) = removed {
            warn!(checkpoint = id, error = %e, "removing the files of an aborted checkpoint failed");
        }
        self.settle_failed(id, reason, p.reply);
    }

    fn settle_failed(&self, id: u64, reason: &str, reply: Option<Sender<Result<CheckpointRecord, String>>>) {
        self.control.settle(id, |r| {
            r.status = CheckpointStatus::Failed;
            r.failure = Some(reason.to_string());
        });
        if let Some(reply) = reply {
            let _ = reply.send(Err(reason.to_string()));
        }
    }

    fn discard_late_ack(&mut self, checkpoint: u64, states: &[(String, u32, weir_checkpoint::SubtaskState)]) {
        let dir = CheckpointStorage::checkpoint_dir(checkpoint);
        let retained: BTreeSet<String> = self.completed.iter().chain(self.discarded.iter()).flat_map(protocol::referenced_files).collect();
        for (_, _, st) in states {
            for f in &st.files {
                if let Some(path) = protocol::root_relative(&dir, &f.path) {
                    if !retained.contains(&path) {
                        let _ = self.runtime.block_on(self.storage.delete(&path));
                    }
                }
            }
        }
    }

    fn notify(&self, msg: Control) {
        for (_, tx, _) in &self.tasks {
            let _ = tx.send(msg.clone());
        }
    }
}
