//! The checkpoint lifecycle as one state machine: events in, actions out.
//!
//! [`Protocol`] decides everything about checkpoints and savepoints of a
//! running job: when the next one is due, how many may be in flight, when one
//! is complete, timed out or subsumed, which checkpoints are retained and
//! which files may go, how the job's last checkpoint is taken (and retried),
//! stop-with-savepoint, and when a claimed checkpoint is deleted. It does no
//! I/O, starts no thread and reads no clock: time comes in with each event,
//! and the runtime's coordinator executes the [`Action`]s it returns.
//!
//! Rules worth knowing:
//! - `_metadata` is the last thing written; a snapshot is complete only when
//!   the executor reports [`Event::MetadataWritten`].
//! - Completion is announced with the snapshot's kind. Sinks commit on a
//!   completed checkpoint only: never on a savepoint. Stop-with-savepoint is
//!   a savepoint followed by the final checkpoint, so the output it commits
//!   is covered by the newest checkpoint as well as by the savepoint.
//! - A completed checkpoint aborts the older checkpoints still in flight.
//! - Files of subsumed checkpoints are deleted only while no checkpoint is in
//!   flight (one in flight may reference their shared files); `_metadata`
//!   first, so that a crash in between leaves an incomplete checkpoint, never
//!   a complete one with files missing.
//!
//! ```
//! use weir_checkpoint::protocol::{Action, Clock, Event, Protocol, Settings};
//! let settings = Settings { interval_ms: 100, timeout_ms: 1000, max_concurrent: 1, retained: 1, max_final_attempts: 3 };
//! let mut p = Protocol::new(settings, "job", 8, [((0, 0), true)], 1, Vec::new(), false);
//! let at = |ms| Clock { mono_ms: ms, wall_ms: 1_000_000 + ms };
//! assert!(p.handle(Event::Tick, at(0)).is_empty());
//! // 100 ms later checkpoint 1 is due: its barrier goes to the source.
//! assert!(matches!(p.handle(Event::Tick, at(100))[..], [Action::Trigger(ref t)] if t.id == 1));
//! // The source acknowledges: write `_metadata`, then it is complete.
//! let acts = p.handle(Event::Ack { checkpoint: 1, task: (0, 0), states: vec![] }, at(110));
//! assert!(matches!(acts[..], [Action::WriteMetadata { id: 1, .. }]));
//! let acts = p.handle(Event::MetadataWritten { checkpoint: 1, result: Ok(()) }, at(111));
//! assert!(matches!(acts[0], Action::NotifyComplete { id: 1, is_final: false, .. }));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use super::events::{Action, Clock, Deletion, Event, Request, RequestId, Settings, Target, Trigger};
use super::kind::{SavepointFormat, SnapshotKind};
use super::{deletable_files, referenced_files, root_relative, subsumed, PendingCheckpoint, TaskId};
use crate::manifest::{checkpoint_dir_name, CheckpointMetadata, SubtaskState, METADATA_FILE};

/// How many aborted snapshots are remembered, to clean up after their late acks.
const ABORTED_REMEMBERED: usize = 1024;

#[derive(Debug, Clone)]
struct InFlight {
    pending: PendingCheckpoint,
    kind: SnapshotKind,
    is_final: bool,
    target: Target,
    started_ms: u64,
    request: Option<RequestId>,
    /// `_metadata` is being written: the snapshot can no longer be aborted by a decline or time-out.
    writing: Option<CheckpointMetadata>,
}

/// Where the job is on its way to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not stopping, or stopping and waiting for the sources and what is in flight.
    Running,
    /// The savepoint of stop-with-savepoint is in flight.
    FinalSavepoint(u64),
    /// The last checkpoint is in flight.
    FinalCheckpoint(u64),
    /// It completed.
    Done,
}

/// The checkpoint protocol of one job run. See the [module docs](self).
#[derive(Debug)]
pub struct Protocol {
    settings: Settings,
    job_name: String,
    max_parallelism: u32,
    tasks: BTreeSet<TaskId>,
    sources: BTreeSet<TaskId>,
    exhausted: BTreeSet<TaskId>,
    ended: BTreeSet<TaskId>,
    next_id: u64,
    next_due_ms: Option<u64>,
    in_flight: BTreeMap<u64, InFlight>,
    aborted: BTreeMap<u64, Target>,
    completed: Vec<CheckpointMetadata>,
    discarded: Vec<CheckpointMetadata>,
    claim_pending: bool,
    stop_savepoint: Option<(RequestId, String, SavepointFormat)>,
    stop_requested: bool,
    phase: Phase,
    final_failures: u32,
    finished: bool,
}

/// The directory a savepoint gets under its root.
pub fn savepoint_dir_name(id: u64, timestamp_ms: u64) -> String {
    format!("savepoint-{id}-{timestamp_ms}")
}

impl Protocol {
    /// The protocol of a job whose tasks are `tasks` (`(task, is_source)`),
    /// whose next snapshot gets `next_id`, with the `completed` checkpoints
    /// found in its directory (oldest first), and, with `claim_pending`, a
    /// claimed checkpoint to delete once its first own checkpoint completes.
    pub fn new(
        settings: Settings,
        job_name: &str,
        max_parallelism: u32,
        tasks: impl IntoIterator<Item = (TaskId, bool)>,
        next_id: u64,
        completed: Vec<CheckpointMetadata>,
        claim_pending: bool,
    ) -> Self {
        let tasks: Vec<(TaskId, bool)> = tasks.into_iter().collect();
        Protocol {
            settings,
            job_name: job_name.to_string(),
            max_parallelism,
            sources: tasks.iter().filter(|t| t.1).map(|t| t.0).collect(),
            tasks: tasks.iter().map(|t| t.0).collect(),
            exhausted: BTreeSet::new(),
            ended: BTreeSet::new(),
            next_id: next_id.max(1),
            next_due_ms: None,
            in_flight: BTreeMap::new(),
            aborted: BTreeMap::new(),
            completed,
            discarded: Vec::new(),
            claim_pending,
            stop_savepoint: None,
            stop_requested: false,
            phase: Phase::Running,
            final_failures: 0,
            finished: false,
        }
    }

    /// Snapshots in flight, by id.
    pub fn in_flight(&self) -> Vec<u64> {
        self.in_flight.keys().copied().collect()
    }

    /// The retained completed checkpoints, oldest first.
    pub fn retained(&self) -> &[CheckpointMetadata] {
        &self.completed
    }

    /// Takes `event` at `now` and returns what to do, in order.
    pub fn handle(&mut self, event: Event, now: Clock) -> Vec<Action> {
        let mut out = Vec::new();
        if self.finished {
            if let Event::Request(request, _) = event {
                out.push(Action::Reply { request, result: Err("the job has ended".into()) });
            }
            return out;
        }
        match event {
            Event::Tick => self.tick(now, &mut out),
            Event::Request(request, what) => self.request(request, what, now, &mut out),
            Event::Ack { checkpoint, task, states } => self.ack(checkpoint, task, states, &mut out),
            Event::Decline { checkpoint, task, reason } => {
                if self.in_flight.get(&checkpoint).is_some_and(|f| f.writing.is_none()) {
                    self.abort(checkpoint, format!("task {task:?} declined: {reason}"), &mut out);
                }
            }
            Event::MetadataWritten { checkpoint, result } => self.written(checkpoint, result, &mut out),
            Event::Stop => self.stop_requested = true,
            Event::SourceExhausted(task) => {
                self.exhausted.insert(task);
            }
            Event::TaskEnded(task) => {
                self.ended.insert(task);
                if self.ended.len() >= self.tasks.len() {
                    self.finished = true;
                    out.push(Action::Finished);
                    return out;
                }
            }
        }
        self.maybe_final(now, &mut out);
        out
    }

    fn all_exhausted(&self) -> bool {
        !self.sources.is_empty() && self.exhausted.len() >= self.sources.len()
    }

    fn tick(&mut self, now: Clock, out: &mut Vec<Action>) {
        let timeout = self.settings.timeout_ms;
        let expired: Vec<(u64, Vec<TaskId>)> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.writing.is_none() && now.mono_ms.saturating_sub(f.started_ms) >= timeout)
            .map(|(id, f)| (*id, f.pending.missing_tasks()))
            .collect();
        for (id, missing) in expired {
            self.abort(id, format!("timed out after {timeout} ms, waiting for tasks {missing:?}"), out);
        }
        let due = *self.next_due_ms.get_or_insert(now.mono_ms + self.settings.interval_ms);
        let stopping = self.stop_requested || self.stop_savepoint.is_some() || self.phase != Phase::Running;
        if now.mono_ms >= due
            && !stopping
            && !self.sources.is_empty()
            && !self.all_exhausted()
            && self.in_flight.len() < self.settings.max_concurrent.max(1)
        {
            // Anchored to the schedule, like a ticker; a checkpoint that ran
            // past the next slot moves the schedule instead of queueing a burst.
            let next = due + self.settings.interval_ms;
            self.next_due_ms = Some(if next > now.mono_ms { next } else { now.mono_ms + self.settings.interval_ms });
            self.trigger(SnapshotKind::Checkpoint, false, None, None, now, out);
        }
    }

    fn request(&mut self, request: RequestId, what: Request, now: Clock, out: &mut Vec<Action>) {
        if matches!(self.phase, Phase::FinalCheckpoint(_) | Phase::Done) {
            out.push(Action::Reply { request, result: Err("the job is stopping: its final checkpoint is under way".into()) });
            return;
        }
        match what {
            Request::Checkpoint { full } => {
                let kind = if full { SnapshotKind::FullCheckpoint } else { SnapshotKind::Checkpoint };
                self.trigger(kind, false, None, Some(request), now, out);
            }
            Request::Savepoint { dir, format } => {
                self.trigger(SnapshotKind::Savepoint(format), false, Some(dir), Some(request), now, out);
            }
            Request::StopWithSavepoint { dir, format } => {
                if self.stop_savepoint.is_some() || self.phase != Phase::Running {
                    out.push(Action::Reply { request, result: Err("the job is already stopping".into()) });
                } else {
                    self.stop_savepoint = Some((request, dir, format));
                }
            }
        }
    }

    fn trigger(
        &mut self,
        kind: SnapshotKind,
        is_final: bool,
        savepoint_root: Option<String>,
        request: Option<RequestId>,
        now: Clock,
        out: &mut Vec<Action>,
    ) -> u64 {
        let id = self.next_id;
        self.next_id = self.next_id.saturating_add(1);
        let target = match savepoint_root {
            Some(root) => Target::Savepoint { root, dir: savepoint_dir_name(id, now.wall_ms) },
            None => Target::Checkpoint { dir: checkpoint_dir_name(id) },
        };
        self.in_flight.insert(
            id,
            InFlight {
                pending: PendingCheckpoint::new(id, now.wall_ms, self.tasks.iter().copied()),
                kind,
                is_final,
                target: target.clone(),
                started_ms: now.mono_ms,
                request,
                writing: None,
            },
        );
        out.push(Action::Trigger(Trigger { id, timestamp_ms: now.wall_ms, kind, is_final, target }));
        // A job without tasks completes at once.
        if self.tasks.is_empty() {
            self.ack_complete(id, out);
        }
        id
    }

    fn ack(&mut self, id: u64, task: TaskId, states: Vec<(String, u32, SubtaskState)>, out: &mut Vec<Action>) {
        match self.in_flight.get_mut(&id) {
            Some(f) if f.writing.is_none() => {
                if let super::AckOutcome::Complete = f.pending.acknowledge(task, states) {
                    self.ack_complete(id, out);
                }
            }
            Some(_) => {}
            None => self.late_ack(id, &states, out),
        }
    }

    fn ack_complete(&mut self, id: u64, out: &mut Vec<Action>) {
        let (job, maxp) = (self.job_name.clone(), self.max_parallelism);
        if let Some(f) = self.in_flight.get_mut(&id) {
            let metadata = f.pending.clone().into_metadata(&job, maxp);
            f.writing = Some(metadata.clone());
            out.push(Action::WriteMetadata { id, target: f.target.clone(), metadata });
        }
    }

    /// An ack of a snapshot that is no longer in flight. If it was aborted,
    /// its upload finished after the abort removed its files: remove what it
    /// wrote. Acks of unknown or completed snapshots change nothing.
    fn late_ack(&mut self, id: u64, states: &[(String, u32, SubtaskState)], out: &mut Vec<Action>) {
        match self.aborted.get(&id) {
            Some(Target::Savepoint { root, dir }) => out.push(Action::DeleteSavepoint { root: root.clone(), dir: dir.clone() }),
            Some(Target::Checkpoint { dir }) => {
                let keep = self.referenced(true);
                let files = states
                    .iter()
                    .flat_map(|(_, _, st)| st.files.iter())
                    .filter_map(|f| root_relative(dir, &f.path))
                    .filter(|p| !keep.contains(p))
                    .collect::<BTreeSet<String>>()
                    .into_iter()
                    .collect();
                out.push(Action::Delete(Deletion { files, sweep: vec![dir.clone()], keep }));
            }
            None => {}
        }
    }

    /// Every root-relative file the retained checkpoints reference (and,
    /// with `discarded`, those subsumed but not deleted yet).
    fn referenced(&self, discarded: bool) -> BTreeSet<String> {
        let extra: &[CheckpointMetadata] = if discarded { &self.discarded } else { &[] };
        self.completed.iter().chain(extra.iter()).flat_map(referenced_files).collect()
    }

    fn written(&mut self, id: u64, result: Result<(), String>, out: &mut Vec<Action>) {
        if let Err(e) = result {
            if self.in_flight.get(&id).is_some_and(|f| f.writing.is_some()) {
                self.abort(id, format!("writing _metadata failed: {e}"), out);
            }
            return;
        }
        let Some(f) = self.in_flight.remove(&id) else { return };
        out.push(Action::NotifyComplete { id, kind: f.kind, is_final: f.is_final });
        if let Some(request) = f.request {
            out.push(Action::Reply { request, result: Ok(id) });
        }
        if f.kind.is_savepoint() {
            if self.phase == Phase::FinalSavepoint(id) {
                self.phase = Phase::Running;
            }
        } else {
            // Older checkpoints still in flight are subsumed by this one.
            let older: Vec<u64> = self
                .in_flight
                .range(..id)
                .filter(|(_, o)| !o.kind.is_savepoint() && o.writing.is_none())
                .map(|(older, _)| *older)
                .collect();
            for older in older {
                self.abort(older, format!("subsumed by checkpoint {id}, which completed first"), out);
            }
            if let Some(meta) = f.writing {
                self.completed.push(meta);
                self.completed.sort_by_key(|m| m.checkpoint_id);
            }
            let ids: Vec<u64> = self.completed.iter().map(|m| m.checkpoint_id).collect();
            let gone: BTreeSet<u64> = subsumed(&ids, self.settings.retained).into_iter().collect();
            let (discarded, retained): (Vec<_>, Vec<_>) =
                std::mem::take(&mut self.completed).into_iter().partition(|m| gone.contains(&m.checkpoint_id));
            self.completed = retained;
            self.discarded.extend(discarded);
            if self.claim_pending {
                self.claim_pending = false;
                out.push(Action::DeleteClaimed);
            }
            self.flush_discarded(out);
        }
        if f.is_final {
            self.phase = Phase::Done;
            self.finished = true;
            out.push(Action::Finished);
        }
    }

    /// Deletes the subsumed checkpoints once no checkpoint in flight may reference their files.
    fn flush_discarded(&mut self, out: &mut Vec<Action>) {
        if self.discarded.is_empty() || self.in_flight.values().any(|f| !f.kind.is_savepoint()) {
            return;
        }
        let retained: Vec<&CheckpointMetadata> = self.completed.iter().collect();
        let discarded: Vec<&CheckpointMetadata> = self.discarded.iter().collect();
        let mut files: Vec<String> =
            discarded.iter().map(|m| format!("{}/{METADATA_FILE}", checkpoint_dir_name(m.checkpoint_id))).collect();
        files.extend(deletable_files(&retained, &discarded));
        let sweep = discarded.iter().map(|m| checkpoint_dir_name(m.checkpoint_id)).collect();
        let keep = self.referenced(false);
        self.discarded.clear();
        out.push(Action::Delete(Deletion { files, sweep, keep }));
    }

    fn abort(&mut self, id: u64, reason: String, out: &mut Vec<Action>) {
        let Some(f) = self.in_flight.remove(&id) else { return };
        out.push(Action::NotifyAbort { id, kind: f.kind, reason: reason.clone() });
        match &f.target {
            Target::Savepoint { root, dir } => out.push(Action::DeleteSavepoint { root: root.clone(), dir: dir.clone() }),
            Target::Checkpoint { dir } => {
                let keep = self.referenced(true);
                let files = f.pending.referenced_files().into_iter().filter(|p| !keep.contains(p)).collect();
                out.push(Action::Delete(Deletion { files, sweep: vec![dir.clone()], keep }));
            }
        }
        self.aborted.insert(id, f.target);
        while self.aborted.len() > ABORTED_REMEMBERED {
            self.aborted.pop_first();
        }
        if let Some(request) = f.request {
            out.push(Action::Reply { request, result: Err(reason.clone()) });
        }
        match self.phase {
            Phase::FinalSavepoint(s) if s == id => self.phase = Phase::Running,
            Phase::FinalCheckpoint(c) if c == id => {
                self.final_failures += 1;
                if self.final_failures >= self.settings.max_final_attempts.max(1) {
                    self.finished = true;
                    out.push(Action::Fail {
                        checkpoint: id,
                        reason: format!("{reason} (attempt {} of {})", self.final_failures, self.settings.max_final_attempts),
                    });
                } else {
                    self.phase = Phase::Running;
                }
            }
            _ => {}
        }
        self.flush_discarded(out);
    }

    /// Every source is done and nothing is in flight: take the savepoint of
    /// stop-with-savepoint, if one was asked for, then the final checkpoint
    /// (again, after a failed attempt).
    fn maybe_final(&mut self, now: Clock, out: &mut Vec<Action>) {
        if self.finished || self.phase != Phase::Running || !self.all_exhausted() || !self.in_flight.is_empty() {
            return;
        }
        if let Some((request, dir, format)) = self.stop_savepoint.take() {
            let id = self.trigger(SnapshotKind::Savepoint(format), false, Some(dir), Some(request), now, out);
            if self.in_flight.contains_key(&id) {
                self.phase = Phase::FinalSavepoint(id);
            }
            return;
        }
        let id = self.trigger(SnapshotKind::Checkpoint, true, None, None, now, out);
        if self.in_flight.contains_key(&id) {
            self.phase = Phase::FinalCheckpoint(id);
        }
    }
}
