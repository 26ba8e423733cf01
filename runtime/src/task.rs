//! Tasks that read channels: input selection, watermark tracking and barrier alignment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Select, Sender};
use weir_checkpoint::{CheckpointStorage, TaskId};

use crate::incremental::SharedFiles;
use crate::upload::{lock as locked, upload_snapshots, Target, Uploads};
use crate::{processing_time_now, Barrier, Control, JobError, Message, Operator, OperatorSnapshot, SnapshotKind, TaskEvent};

/// How a task ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TaskOutcome {
    Finished,
}

/// A task's connection to the checkpoint coordinator and storage.
#[derive(Clone)]
pub(crate) struct CheckpointPlumbing {
    pub task: TaskId,
    pub parallelism: u32,
    pub control: Receiver<Control>,
    pub events: Option<Sender<TaskEvent>>,
    pub storage: Option<CheckpointStorage>,
    pub runtime: tokio::runtime::Handle,
    /// Shared files the task's next checkpoint may reference.
    pub shared: Arc<Mutex<SharedFiles>>,
    /// Where savepoints in flight go: id -> (storage, directory).
    pub savepoints: Arc<Mutex<HashMap<u64, (CheckpointStorage, String)>>>,
    /// Every task's uploads in flight.
    pub uploads: Uploads,
}

impl CheckpointPlumbing {
    pub(crate) fn checkpointing(&self) -> bool {
        self.events.is_some()
    }

    /// Keeps the increment base in step with checkpoint notifications (a
    /// savepoint never becomes the base), and notes where savepoints go.
    pub(crate) fn note(&self, msg: &Control) {
        match msg {
            Control::SavepointTarget { id, storage, dir } => {
                locked(&self.savepoints).insert(*id, (storage.clone(), dir.clone()));
            }
            Control::Complete(n) => {
                locked(&self.savepoints).remove(&n.id);
                if !n.kind.is_savepoint() {
                    locked(&self.shared).confirm(n.id);
                }
            }
            Control::Abort(n) => {
                locked(&self.savepoints).remove(&n.id);
                locked(&self.shared).abort(n.id);
            }
            _ => {}
        }
    }

    pub(crate) fn send(&self, event: TaskEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    /// Hands the synchronous-phase output to the I/O runtime; the task goes on at once.
    /// `stats` holds the timings of the synchronous part; the upload adds its own and the bytes.
    pub(crate) fn upload(&self, barrier: &Barrier, snapshots: Vec<OperatorSnapshot>, stats: crate::AckStats) {
        let (Some(events), Some(storage)) = (self.events.clone(), self.storage.clone()) else { return };
        let checkpoint = barrier.id;
        let savepoint = barrier.kind.is_savepoint();
        let target = match barrier.kind {
            SnapshotKind::Savepoint(_) => match locked(&self.savepoints).get(&checkpoint).cloned() {
                Some((storage, dir)) => Target { storage, dir, self_contained: true },
                None => {
                    let reason = format!("savepoint {checkpoint}: the task was not told where it goes");
                    let _ = events.send(TaskEvent::Decline { checkpoint, task: self.task, reason });
                    return;
                }
            },
            kind => {
                Target { storage, dir: CheckpointStorage::checkpoint_dir(checkpoint), self_contained: kind == SnapshotKind::FullCheckpoint }
            }
        };
        let task = self.task;
        let parallelism = self.parallelism;
        let shared = self.shared.clone();
        let upload = self.runtime.spawn(async move {
            let started = Instant::now();
            let event = match upload_snapshots(&target, &shared, checkpoint, task, parallelism, snapshots).await {
                Ok(up) => {
                    crate::fail::point(if savepoint { "savepoint-uploaded" } else { "task-uploaded" });
                    TaskEvent::Ack {
                        checkpoint,
                        task,
                        states: up.states,
                        stats: crate::AckStats { async_: started.elapsed(), bytes: up.bytes, ..stats },
                    }
                }
                Err(e) => TaskEvent::Decline { checkpoint, task, reason: e.to_string() },
            };
            let _ = events.send(event);
        });
        self.uploads.add(upload);
    }
}

/// The newest checkpoint a task has been told is complete.
#[derive(Default)]
pub(crate) struct Notified {
    completed: Option<u64>,
}

impl Notified {
    fn note(&mut self, msg: &Control) {
        if let Control::Complete(n) = msg {
            self.completed = Some(self.completed.map_or(n.id, |c| c.max(n.id)));
        }
    }
}

struct InputState {
    ended: bool,
    blocked: bool,
    watermark: i64,
    /// Marked idle by its sender, until its next record or watermark.
    idle: bool,
}

pub(crate) struct InputTask<T> {
    pub inputs: Vec<Receiver<Message<T>>>,
    pub chain: Box<dyn Operator<T>>,
    /// Notifications can arrive before the final barrier's End does.
    pub notified: Notified,
}

impl<T: Send + 'static> InputTask<T> {
    pub(crate) fn run(mut self, plumbing: CheckpointPlumbing) -> Result<TaskOutcome, JobError> {
        let n = self.inputs.len();
        let mut states: Vec<InputState> =
            (0..n).map(|_| InputState { ended: false, blocked: false, watermark: i64::MIN, idle: false }).collect();
        let mut watermark = i64::MIN;
        // Every open input is idle, and the chain was told so.
        let mut idle_out = false;
        let mut aligning: Option<(Barrier, Instant)> = None;
        let mut final_id: Option<u64> = None;
        let control = plumbing.control.clone();
        self.chain.open()?;
        // When the chain's earliest processing-time timer is due, if it has one.
        let mut next_due = self.chain.processing_time(processing_time_now())?;
        let mut open = n;
        while open > 0 {
            let mut select = Select::new();
            let mut map = Vec::with_capacity(n + 1);
            for (i, rx) in self.inputs.iter().enumerate() {
                if !states[i].ended && !states[i].blocked {
                    select.recv(rx);
                    map.push(Some(i));
                }
            }
            select.recv(&control);
            map.push(None);
            let op = match next_due {
                None => select.select(),
                Some(due) => match select.select_timeout(Duration::from_millis((due - processing_time_now()).max(0) as u64)) {
                    Ok(op) => op,
                    Err(_) => {
                        next_due = self.chain.processing_time(processing_time_now())?;
                        continue;
                    }
                },
            };
            let which = map[op.index()];
            let Some(i) = which else {
                let msg = op.recv(&control).map_err(|_| JobError::Cancelled)?;
                self.handle_control(msg, &plumbing)?;
                continue;
            };
            let msg = match op.recv(&self.inputs[i]) {
                Ok(m) => m,
                // The sender went away without End: its task failed.
                Err(_) => return Err(JobError::Cancelled),
            };
            match msg {
                Message::Batch(mut batch) => {
                    states[i].idle = false;
                    self.update_idleness(&states, watermark, &mut idle_out)?;
                    self.chain.process(&mut batch)?;
                }
                Message::Watermark(wm) => {
                    states[i].idle = false;
                    states[i].watermark = states[i].watermark.max(wm);
                    self.update_idleness(&states, watermark, &mut idle_out)?;
                    self.advance_watermark(&states, &mut watermark)?;
                }
                Message::Idle => {
                    states[i].idle = true;
                    self.advance_watermark(&states, &mut watermark)?;
                    self.update_idleness(&states, watermark, &mut idle_out)?;
                }
                Message::Barrier(barrier) => {
                    match aligning {
                        Some((current, _)) if current.id == barrier.id => {}
                        Some((current, _)) if current.id > barrier.id => continue,
                        _ => {
                            // A newer barrier: abandon an older alignment (that checkpoint was aborted).
                            for s in states.iter_mut() {
                                s.blocked = false;
                            }
                            aligning = Some((barrier, Instant::now()));
                        }
                    }
                    states[i].blocked = true;
                    if barrier.is_final {
                        final_id = Some(barrier.id);
                    }
                    self.maybe_complete_alignment(&mut states, &mut aligning, &plumbing)?;
                }
                Message::End => {
                    states[i].ended = true;
                    open -= 1;
                    self.advance_watermark(&states, &mut watermark)?;
                    self.update_idleness(&states, watermark, &mut idle_out)?;
                    self.maybe_complete_alignment(&mut states, &mut aligning, &plumbing)?;
                }
            }
            // What the message did may have registered or fired processing-time timers.
            next_due = self.chain.processing_time(processing_time_now())?;
        }
        self.chain.finish()?;
        if let (true, Some(final_id)) = (plumbing.checkpointing(), final_id) {
            loop {
                // Sources end their streams only once the final checkpoint
                // completed; its notification may still be on its way.
                if self.notified.completed.is_some_and(|c| c >= final_id) {
                    break;
                }
                let msg = control.recv().map_err(|_| JobError::Cancelled)?;
                self.handle_control(msg, &plumbing)?;
            }
        }
        Ok(TaskOutcome::Finished)
    }

    /// Records a notification (for the final wait and the increment base) and
    /// passes it to the chain.
    fn handle_control(&mut self, msg: Control, plumbing: &CheckpointPlumbing) -> Result<(), JobError> {
        self.notified.note(&msg);
        plumbing.note(&msg);
        match msg {
            Control::Complete(n) => self.chain.checkpoint_complete(&n),
            Control::Abort(n) => self.chain.checkpoint_aborted(&n),
            Control::Trigger(_) | Control::SavepointTarget { .. } => Ok(()),
            Control::Cancel => Err(JobError::Cancelled),
        }
    }

    /// The combined watermark is the minimum over the active inputs: those
    /// neither ended nor idle. It never goes back: an input active again
    /// behind it sends late records. When the last active input goes idle,
    /// the largest watermark of the open inputs holds (as Flink flushes it),
    /// so that idle inputs do not keep event time from where it got to.
    fn advance_watermark(&mut self, states: &[InputState], current: &mut i64) -> Result<(), JobError> {
        let open = || states.iter().filter(|s| !s.ended);
        let next = match open().filter(|s| !s.idle).map(|s| s.watermark).min() {
            Some(m) => m,
            None => match open().map(|s| s.watermark).max() {
                Some(m) => m,
                // Every input ended: their last watermarks hold (sources send i64::MAX at end of input).
                None => states.iter().map(|s| s.watermark).min().unwrap_or(i64::MIN),
            },
        };
        if next > *current {
            *current = next;
            self.chain.watermark(next)?;
        }
        Ok(())
    }

    /// Tells the chain its input is idle when every open input is; when one
    /// is active again, sends the current watermark on, which makes the
    /// output active again everywhere downstream.
    fn update_idleness(&mut self, states: &[InputState], current: i64, idle_out: &mut bool) -> Result<(), JobError> {
        let open = states.iter().any(|s| !s.ended);
        let active = states.iter().any(|s| !s.ended && !s.idle);
        if open && !active && !*idle_out {
            *idle_out = true;
            self.chain.idle()?;
        } else if active && *idle_out {
            *idle_out = false;
            self.chain.watermark(current)?;
        }
        Ok(())
    }

    fn maybe_complete_alignment(
        &mut self,
        states: &mut [InputState],
        aligning: &mut Option<(Barrier, Instant)>,
        plumbing: &CheckpointPlumbing,
    ) -> Result<(), JobError> {
        let Some((barrier, started)) = *aligning else { return Ok(()) };
        if !states.iter().all(|s| s.blocked || s.ended) {
            return Ok(());
        }
        let alignment = started.elapsed();
        // A completion sent before this barrier's checkpoint was triggered is
        // already queued: take it first, so the increment base is the newest
        // confirmed checkpoint.
        while let Ok(msg) = plumbing.control.try_recv() {
            self.handle_control(msg, plumbing)?;
        }
        let sync_start = Instant::now();
        let mut snapshots = Vec::new();
        self.chain.barrier(&barrier, &mut snapshots)?;
        let start_delay = crate::control::since_trigger(&barrier, started);
        plumbing.upload(&barrier, snapshots, crate::AckStats { sync: sync_start.elapsed(), alignment, start_delay, ..Default::default() });
        for s in states.iter_mut() {
            s.blocked = false;
        }
        *aligning = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Records what reaches the chain.
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Operator<u64> for Recorder {
        fn open(&mut self) -> Result<(), JobError> {
            Ok(())
        }
        fn process(&mut self, _: &mut Vec<u64>) -> Result<(), JobError> {
            Ok(())
        }
        fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
            self.0.lock().unwrap().push(format!("wm {watermark}"));
            Ok(())
        }
        fn barrier(&mut self, _: &Barrier, _: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
            Ok(())
        }
        fn checkpoint_complete(&mut self, _: &crate::Notification) -> Result<(), JobError> {
            Ok(())
        }
        fn checkpoint_aborted(&mut self, _: &crate::Notification) -> Result<(), JobError> {
            Ok(())
        }
        fn finish(&mut self) -> Result<(), JobError> {
            Ok(())
        }
        fn idle(&mut self) -> Result<(), JobError> {
            self.0.lock().unwrap().push("idle".into());
            Ok(())
        }
    }

    #[test]
    fn the_watermark_is_the_minimum_of_the_active_inputs_and_never_goes_back() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut task = InputTask::<u64> { inputs: Vec::new(), chain: Box::new(Recorder(log.clone())), notified: Notified::default() };
        let mut states: Vec<InputState> =
            (0..2).map(|_| InputState { ended: false, blocked: false, watermark: i64::MIN, idle: false }).collect();
        let (mut wm, mut idle_out) = (i64::MIN, false);
        let mut step = |states: &[InputState], task: &mut InputTask<u64>| {
            task.update_idleness(states, wm, &mut idle_out).unwrap();
            task.advance_watermark(states, &mut wm).unwrap();
            task.update_idleness(states, wm, &mut idle_out).unwrap();
        };
        states[0].watermark = 100;
        step(&states, &mut task); // input 1 has no watermark yet: nothing
        states[1].idle = true;
        step(&states, &mut task); // input 1 idle: input 0 alone counts
        states[0].watermark = 200;
        step(&states, &mut task);
        states[0].idle = true;
        step(&states, &mut task); // every input idle: the output is idle, the watermark holds
        (states[1].idle, states[1].watermark) = (false, 50);
        step(&states, &mut task); // active again, behind: the output is active, the watermark does not go back
        states[1].watermark = 300;
        step(&states, &mut task); // input 0 is still idle
        states[1].ended = true;
        step(&states, &mut task); // only an idle input is open: idle again, 300 holds
        assert_eq!(*log.lock().unwrap(), ["wm 100", "wm 200", "idle", "wm 200", "wm 300", "idle"]);
    }

    #[test]
    fn when_the_last_active_input_goes_idle_the_largest_watermark_holds() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut task = InputTask::<u64> { inputs: Vec::new(), chain: Box::new(Recorder(log.clone())), notified: Notified::default() };
        let mut states: Vec<InputState> =
            (0..2).map(|_| InputState { ended: false, blocked: false, watermark: i64::MIN, idle: false }).collect();
        let mut wm = i64::MIN;
        (states[0].watermark, states[0].idle) = (500, true);
        task.advance_watermark(&states, &mut wm).unwrap(); // input 1 active without a watermark
        states[1].idle = true;
        task.advance_watermark(&states, &mut wm).unwrap();
        assert_eq!(*log.lock().unwrap(), ["wm 500"]);
    }
}
