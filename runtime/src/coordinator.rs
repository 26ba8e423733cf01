//! The checkpoint coordinator: executes what the checkpoint protocol decides.
//!
//! Every decision (when to trigger, when a snapshot is complete, timed out or
//! subsumed, what is retained and deleted, the final checkpoint and
//! stop-with-savepoint) is made by [`weir_checkpoint::protocol::Protocol`].
//! This module turns task events and requests into protocol events, and the
//! protocol's actions into I/O: barriers and notifications to the tasks,
//! `_metadata` writes, deletions, replies, logs and metrics.
//!
//! Storage I/O runs on the I/O runtime, never in the coordinator's loop: a
//! stalled store must not stop time-outs and triggers. A `_metadata` write
//! reports back as an event; deletions run one after another in the
//! background (in the order decided), and the coordinator waits for them
//! before it returns.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{select, Receiver, Sender};
use tracing::{info, warn};
use weir_checkpoint::protocol::{Action, Clock, Deletion, Event, Protocol, Request, RequestId, Settings, Target, Trigger};
use weir_checkpoint::{CheckpointMetadata, CheckpointStorage, SnapshotStats, TaskId, HISTORY_LEN, METADATA_FILE};

use crate::job_control::Command;
use crate::restore::Claimed;
use crate::{
    AckStats, Barrier, CheckpointConfig, CheckpointRecord, CheckpointStatus, Control, JobControl, JobError, Notification, TaskEvent,
};

/// How often the final checkpoint is tried before the job fails.
const MAX_FINAL_ATTEMPTS: u32 = 10;

/// How often time is fed to the protocol when nothing else happens.
const TICK: Duration = Duration::from_millis(10);

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
    /// Every checkpoint and savepoint completed in this run, oldest first.
    pub history: Vec<CheckpointStats>,
    /// Checkpoints and savepoints completed in this run.
    pub completed: u64,
    /// Checkpoints and savepoints aborted in this run.
    pub aborted: u64,
    /// The newest completed checkpoint (not savepoint).
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
    /// Completed checkpoints found in the directory, oldest first.
    pub completed: Vec<CheckpointMetadata>,
    /// Requests (checkpoint now, savepoint).
    pub commands: Option<Receiver<Command>>,
    /// Where the checkpoint history is published.
    pub control: JobControl,
    /// A restored checkpoint the job took over: deleted once its first own checkpoint completes.
    pub claimed: Option<Claimed>,
}

/// A snapshot in flight, as the executor sees it.
struct Running {
    started: Instant,
    stats: AckStats,
    referenced: u64,
    location: String,
    kind: weir_checkpoint::protocol::SnapshotKind,
    trigger_time_ms: u64,
}

/// A `_metadata` write that finished on the I/O runtime.
struct Written {
    id: u64,
    result: Result<(), weir_checkpoint::CheckpointError>,
}

/// Executes the protocol's actions.
struct Executor {
    storage: CheckpointStorage,
    runtime: tokio::runtime::Handle,
    tasks: Vec<(TaskId, Sender<Control>, bool)>,
    control: JobControl,
    claimed: Option<Claimed>,
    /// Savepoint roots by the name a request gave them.
    roots: HashMap<String, CheckpointStorage>,
    running: BTreeMap<u64, Running>,
    replies: BTreeMap<RequestId, Sender<Result<CheckpointRecord, String>>>,
    next_request: RequestId,
    summary: CheckpointSummary,
    written: (Sender<Written>, Receiver<Written>),
    /// The last of the deletions, which run one after another.
    deletions: Option<tokio::task::JoinHandle<()>>,
    /// The figures of the latest completed snapshots, this run's and
    /// earlier runs' (from the newest `_metadata`), oldest first.
    history: Vec<SnapshotStats>,
}

/// Where the loop goes after a batch of actions.
enum Flow {
    Continue,
    Finished,
    Failed(JobError),
}

/// The figures of snapshot `id` as `_metadata` keeps them, measured now.
fn snapshot_stats(id: u64, r: &Running) -> SnapshotStats {
    use weir_checkpoint::protocol::{SavepointFormat, SnapshotKind};
    let (kind, format) = match r.kind {
        SnapshotKind::Checkpoint => ("checkpoint", None),
        SnapshotKind::FullCheckpoint => ("full_checkpoint", None),
        SnapshotKind::Savepoint(SavepointFormat::Native) => ("savepoint", Some("native".to_string())),
        SnapshotKind::Savepoint(SavepointFormat::Canonical) => ("savepoint", Some("canonical".to_string())),
    };
    SnapshotStats {
        id,
        kind: kind.to_string(),
        format,
        trigger_time_ms: r.trigger_time_ms,
        duration_ms: r.started.elapsed().as_millis() as u64,
        sync_ms: r.stats.sync.as_millis() as u64,
        async_ms: r.stats.async_.as_millis() as u64,
        alignment_ms: r.stats.alignment.as_millis() as u64,
        start_delay_ms: r.stats.start_delay.as_millis() as u64,
        bytes_written: r.stats.bytes,
        full_size: r.referenced,
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Coordinator {
    /// Runs until the final checkpoint completes or every task ended; when it
    /// fails, it cancels the tasks (they may be waiting for a notification).
    pub(crate) fn run(self) -> Result<CheckpointSummary, JobError> {
        let settings = Settings {
            interval_ms: self.config.interval.as_millis() as u64,
            timeout_ms: self.config.timeout.as_millis() as u64,
            max_concurrent: self.config.max_concurrent,
            retained: self.config.retained,
            max_final_attempts: MAX_FINAL_ATTEMPTS,
        };
        let tasks = self.tasks.iter().map(|(id, _, source)| (*id, *source));
        let history = self.completed.iter().max_by_key(|m| m.checkpoint_id).map(|m| m.history.clone()).unwrap_or_default();
        let mut protocol =
            Protocol::new(settings, &self.job_name, self.max_parallelism, tasks, self.next_id, self.completed, self.claimed.is_some());
        let mut exec = Executor {
            storage: self.storage,
            runtime: self.runtime,
            tasks: self.tasks,
            control: self.control,
            claimed: self.claimed,
            roots: HashMap::new(),
            running: BTreeMap::new(),
            replies: BTreeMap::new(),
            next_request: 0,
            summary: CheckpointSummary::default(),
            written: crossbeam_channel::unbounded(),
            deletions: None,
            history,
        };
        let result = exec.run(&mut protocol, self.commands.unwrap_or_else(crossbeam_channel::never), self.events);
        if result.is_err() {
            exec.notify(Control::Cancel);
        }
        if let Some(deletions) = exec.deletions.take() {
            let _ = exec.runtime.block_on(deletions);
        }
        result.map(|()| exec.summary)
    }
}

impl Executor {
    fn run(&mut self, protocol: &mut Protocol, mut commands: Receiver<Command>, events: Receiver<TaskEvent>) -> Result<(), JobError> {
        let start = Instant::now();
        let clock = || Clock { mono_ms: start.elapsed().as_millis() as u64, wall_ms: now_ms() };
        let mut stop_seen = false;
        let written = self.written.1.clone();
        loop {
            let mut closed = false;
            let event = select! {
                recv(written) -> w => match w {
                    Ok(Written { id, result: Err(e @ weir_checkpoint::CheckpointError::MetadataExists { .. }) }) => {
                        // Another writer completed this checkpoint: the
                        // directory is not this job's alone. Fail without
                        // touching what the other wrote.
                        warn!(checkpoint = id, error = %e, "another job writes into this checkpoint directory");
                        return Err(JobError::Checkpoint(e));
                    }
                    Ok(Written { id, result }) => Some(Event::MetadataWritten { checkpoint: id, result: result.map_err(|e| e.to_string()) }),
                    Err(_) => None,
                },
                recv(commands) -> cmd => match cmd {
                    Ok(cmd) => self.request(cmd),
                    Err(_) => {
                        closed = true;
                        None
                    }
                },
                recv(events) -> ev => match ev {
                    Ok(ev) => Some(self.task_event(ev)),
                    Err(_) => return Ok(()),
                },
                default(TICK) => None,
            };
            if closed {
                commands = crossbeam_channel::never();
            }
            let mut queue: VecDeque<Event> = event.into_iter().collect();
            if !stop_seen && self.control.stop_requested() {
                stop_seen = true;
                queue.push_back(Event::Stop);
            }
            // Time goes in after every event too: a completion frees a slot
            // for a checkpoint that is already due.
            queue.push_back(Event::Tick);
            let mut flow = Flow::Continue;
            while let Some(event) = queue.pop_front() {
                for action in protocol.handle(event, clock()) {
                    match self.execute(action, &mut queue) {
                        Flow::Continue => {}
                        other => flow = other,
                    }
                }
            }
            match flow {
                Flow::Continue => {}
                Flow::Finished => return Ok(()),
                Flow::Failed(e) => return Err(e),
            }
        }
    }

    /// A request as a protocol event; a savepoint directory that cannot be
    /// opened is answered at once.
    fn request(&mut self, cmd: Command) -> Option<Event> {
        let (request, reply) = match cmd {
            Command::Checkpoint { full, reply } => (Request::Checkpoint { full }, reply),
            Command::Savepoint { dir, format, stop, reply } => {
                if !self.roots.contains_key(&dir) {
                    match CheckpointStorage::open(&dir) {
                        Ok(root) => {
                            self.roots.insert(dir.clone(), root);
                        }
                        Err(e) => {
                            let _ = reply.send(Err(format!("savepoint directory {dir}: {e}")));
                            return None;
                        }
                    }
                }
                let request = if stop { Request::StopWithSavepoint { dir, format } } else { Request::Savepoint { dir, format } };
                (request, reply)
            }
        };
        let id = self.next_request;
        self.next_request += 1;
        self.replies.insert(id, reply);
        Some(Event::Request(id, request))
    }

    fn task_event(&mut self, ev: TaskEvent) -> Event {
        match ev {
            TaskEvent::Ack { checkpoint, task, states, stats } => {
                if let Some(r) = self.running.get_mut(&checkpoint) {
                    r.stats.sync = r.stats.sync.max(stats.sync);
                    r.stats.async_ = r.stats.async_.max(stats.async_);
                    r.stats.alignment = r.stats.alignment.max(stats.alignment);
                    // Tasks measure the delay against the trigger's wall-clock
                    // millisecond, which rounds by up to two; the barrier
                    // reached the task before its ack reached us, so the time
                    // since the trigger bounds it.
                    r.stats.start_delay = r.stats.start_delay.max(stats.start_delay).min(r.started.elapsed());
                    r.stats.bytes += stats.bytes;
                }
                Event::Ack { checkpoint, task, states }
            }
            TaskEvent::Decline { checkpoint, task, reason } => Event::Decline { checkpoint, task, reason },
            TaskEvent::SourceExhausted(task) => Event::SourceExhausted(task),
            TaskEvent::TaskEnded(task) => Event::TaskEnded(task),
        }
    }

    /// The storage a target lives in, and the target's directory there.
    fn storage_of(&self, target: &Target) -> Option<(CheckpointStorage, String)> {
        match target {
            Target::Checkpoint { dir } => Some((self.storage.clone(), dir.clone())),
            Target::Savepoint { root, dir } => self.roots.get(root).map(|s| (s.clone(), dir.clone())),
        }
    }

    fn execute(&mut self, action: Action, queue: &mut VecDeque<Event>) -> Flow {
        match action {
            Action::Trigger(t) => self.trigger(t),
            Action::WriteMetadata { id, target, mut metadata } => {
                if let Some(r) = self.running.get_mut(&id) {
                    r.referenced = metadata.files().map(|f| f.size).sum::<u64>()
                        + metadata
                            .operators
                            .iter()
                            .flat_map(|o| &o.subtasks)
                            .filter_map(|s| s.inline.as_ref())
                            .map(|b| b.len() as u64)
                            .sum::<u64>();
                    let own = snapshot_stats(id, r);
                    let keep = self.history.len().saturating_sub(HISTORY_LEN - 1);
                    metadata.history = self.history[keep..].iter().cloned().chain(std::iter::once(own)).collect();
                }
                match self.storage_of(&target) {
                    Some((storage, dir)) => {
                        let done = self.written.0.clone();
                        self.runtime.spawn(async move {
                            let result = storage.write_metadata_in(&dir, &metadata).await;
                            if result.is_ok() {
                                crate::fail::point("metadata-written");
                            }
                            let _ = done.send(Written { id, result });
                        });
                    }
                    None => queue.push_back(Event::MetadataWritten {
                        checkpoint: id,
                        result: Err(format!("savepoint directory {} is not open", target.dir())),
                    }),
                }
            }
            Action::NotifyComplete { id, kind, is_final } => {
                self.completed(id, kind);
                self.notify(Control::Complete(Notification { id, kind, is_final }));
            }
            Action::NotifyAbort { id, kind, reason } => {
                warn!(checkpoint = id, reason = %reason, "{} failed", kind.describe());
                metrics::counter!("weir_checkpoints_failed_total").increment(1);
                self.running.remove(&id);
                self.summary.aborted += 1;
                self.notify(Control::Abort(Notification { id, kind, is_final: false }));
                self.control.settle(id, |r| {
                    r.status = CheckpointStatus::Failed;
                    r.failure = Some(reason.clone());
                });
            }
            Action::Delete(d) => {
                let storage = self.storage.clone();
                self.in_background(async move { delete(&storage, &d).await });
            }
            Action::DeleteSavepoint { root, dir } => {
                if let Some(storage) = self.roots.get(&root).cloned() {
                    self.in_background(async move {
                        if let Err(e) = storage.delete_prefix(&dir).await {
                            warn!(savepoint = %storage.describe(&dir), error = %e, "removing an aborted savepoint failed");
                        }
                    });
                }
            }
            Action::DeleteClaimed => {
                if let Some(claimed) = self.claimed.take() {
                    self.in_background(async move {
                        let path = claimed.storage.describe(&claimed.dir);
                        match claimed.delete().await {
                            Ok(()) => info!(claimed = %path, "the claimed checkpoint is subsumed and deleted"),
                            Err(e) => warn!(claimed = %path, error = %e, "deleting the claimed checkpoint failed; its files stay behind"),
                        }
                    });
                }
            }
            Action::Reply { request, result } => {
                if let Some(reply) = self.replies.remove(&request) {
                    let answer = result.and_then(|id| self.control.record(id).ok_or_else(|| format!("checkpoint {id} has no record")));
                    let _ = reply.send(answer);
                }
            }
            Action::Finished => return Flow::Finished,
            Action::Fail { checkpoint, reason } => return Flow::Failed(JobError::FinalCheckpointFailed(checkpoint, reason)),
        }
        Flow::Continue
    }

    fn trigger(&mut self, t: Trigger) {
        let location = match self.storage_of(&t.target) {
            Some((storage, dir)) => {
                if let Target::Savepoint { .. } = t.target {
                    // Every task learns where the savepoint goes before any barrier of it exists.
                    self.notify(Control::SavepointTarget { id: t.id, storage: storage.clone(), dir: dir.clone() });
                }
                storage.describe(&dir)
            }
            None => t.target.dir().to_string(),
        };
        self.running.insert(
            t.id,
            Running {
                started: Instant::now(),
                stats: AckStats::default(),
                referenced: 0,
                location,
                kind: t.kind,
                trigger_time_ms: t.timestamp_ms,
            },
        );
        self.control.triggered(t.id, t.kind, t.timestamp_ms);
        let barrier = Barrier { id: t.id, timestamp_ms: t.timestamp_ms, is_final: t.is_final, kind: t.kind };
        for (_, tx, is_source) in &self.tasks {
            if *is_source {
                let _ = tx.send(Control::Trigger(barrier));
            }
        }
        metrics::counter!("weir_checkpoints_triggered_total").increment(1);
    }

    /// Logs, measures and records a completed snapshot.
    fn completed(&mut self, id: u64, kind: weir_checkpoint::protocol::SnapshotKind) {
        let Some(r) = self.running.remove(&id) else { return };
        self.history.push(snapshot_stats(id, &r));
        if self.history.len() > HISTORY_LEN {
            self.history.remove(0);
        }
        let duration = r.started.elapsed();
        let s = r.stats;
        info!(
            checkpoint = id,
            duration_ms = duration.as_millis() as u64,
            sync_ms = s.sync.as_millis() as u64,
            async_ms = s.async_.as_millis() as u64,
            alignment_ms = s.alignment.as_millis() as u64,
            start_delay_ms = s.start_delay.as_millis() as u64,
            bytes_written = s.bytes,
            bytes_referenced = r.referenced,
            path = %r.location,
            "{} complete",
            kind.describe()
        );
        metrics::counter!("weir_checkpoints_completed_total").increment(1);
        metrics::histogram!("weir_checkpoint_duration_seconds").record(duration.as_secs_f64());
        metrics::histogram!("weir_checkpoint_sync_seconds").record(s.sync.as_secs_f64());
        metrics::histogram!("weir_checkpoint_async_seconds").record(s.async_.as_secs_f64());
        metrics::histogram!("weir_checkpoint_alignment_seconds").record(s.alignment.as_secs_f64());
        metrics::histogram!("weir_checkpoint_start_delay_seconds").record(s.start_delay.as_secs_f64());
        metrics::histogram!("weir_checkpoint_bytes_written").record(s.bytes as f64);
        metrics::histogram!("weir_checkpoint_bytes_referenced").record(r.referenced as f64);
        self.control.settle(id, |rec| {
            rec.status = CheckpointStatus::Completed;
            rec.duration_ms = duration.as_millis() as u64;
            rec.sync_ms = s.sync.as_millis() as u64;
            rec.async_ms = s.async_.as_millis() as u64;
            rec.alignment_ms = s.alignment.as_millis() as u64;
            rec.start_delay_ms = s.start_delay.as_millis() as u64;
            rec.bytes_written = s.bytes;
            rec.full_size = r.referenced;
            rec.path = Some(r.location.clone());
        });
        self.summary.history.push(CheckpointStats {
            id,
            duration,
            sync: s.sync,
            async_: s.async_,
            alignment: s.alignment,
            start_delay: s.start_delay,
            bytes_written: s.bytes,
            bytes_referenced: r.referenced,
        });
        self.summary.completed += 1;
        if !kind.is_savepoint() {
            self.summary.last_completed = Some(id);
        }
    }

    /// Runs `work` on the I/O runtime after the deletions queued before it.
    fn in_background(&mut self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        let previous = self.deletions.take();
        self.deletions = Some(self.runtime.spawn(async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            work.await;
        }));
    }

    fn notify(&self, msg: Control) {
        for (_, tx, _) in &self.tasks {
            let _ = tx.send(msg.clone());
        }
    }
}

/// Deletes files of the job's checkpoint directory, in order, then sweeps
/// directories. Failures are logged: what stays behind, the next start or
/// `weir checkpoints gc` removes.
async fn delete(storage: &CheckpointStorage, d: &Deletion) {
    let retention = d.files.first().is_some_and(|f| f.ends_with(METADATA_FILE));
    for (i, path) in d.files.iter().enumerate() {
        if let Err(e) = storage.delete(path).await {
            warn!(file = %storage.describe(path), error = %e, "deleting a file no checkpoint needs failed; it stays behind");
        }
        if i == 0 && retention {
            crate::fail::point("retention-deleting");
        }
    }
    for dir in &d.sweep {
        if let Err(e) = storage.delete_unreferenced(dir, &d.keep).await {
            warn!(dir = %storage.describe(dir), error = %e, "removing what is left of a checkpoint failed; it stays behind");
        }
    }
}
