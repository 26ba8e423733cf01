//! Sources and the task that drives one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::snapshot::OperatorSnapshot;
use crate::task::{CheckpointPlumbing, TaskOutcome};
use crate::{Control, Counter, Event, JobError, Operator, TaskEvent};

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    /// More may come.
    More,
    /// No more input.
    Exhausted,
}

/// A source instance: produces events, reports its watermark, and snapshots
/// and restores its position.
pub trait Source<T>: Send {
    /// Appends up to `max` events to `out`.
    fn poll(&mut self, out: &mut Vec<Event<T>>, max: usize) -> Result<SourceStatus, JobError>;
    /// The watermark after the events polled so far, if any.
    fn watermark(&self) -> Option<i64>;
    /// The position to resume from, encoded.
    fn snapshot(&mut self) -> Result<Vec<u8>, JobError>;
    /// Resumes from an encoded position.
    fn restore(&mut self, position: &[u8]) -> Result<(), JobError>;
    /// Resumes at another parallelism: `positions` are those of every
    /// instance of the run that ran with `parallelism` instances; each new
    /// instance takes its share of the work they had left.
    fn restore_rescaled(&mut self, parallelism: u32, positions: &[(u32, Vec<u8>)]) -> Result<(), JobError> {
        let _ = positions;
        Err(JobError::Input(format!("this source ran with parallelism {parallelism} and cannot resume at another parallelism")))
    }
}

/// Batch size of source polls.
pub const SOURCE_BATCH: usize = 4096;

pub(crate) struct SourceTask<T> {
    pub operator_id: String,
    pub source: Box<dyn Source<T>>,
    pub chain: Box<dyn Operator<Event<T>>>,
    pub stop: Arc<AtomicBool>,
    pub events: Counter,
    /// The id of the last final barrier sent.
    pub final_barrier: Option<u64>,
}

impl<T: Send + 'static> SourceTask<T> {
    pub(crate) fn run(mut self, plumbing: CheckpointPlumbing) -> Result<TaskOutcome, JobError> {
        let mut batch: Vec<Event<T>> = Vec::with_capacity(SOURCE_BATCH);
        let mut last_wm = i64::MIN;
        let control = plumbing.control.clone();
        self.chain.open()?;
        let mut exhausted = false;
        loop {
            // Control messages between batches.
            while let Ok(msg) = control.try_recv() {
                if self.handle_control(msg, &plumbing)? {
                    return Ok(TaskOutcome::Finished);
                }
            }
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let status = self.source.poll(&mut batch, SOURCE_BATCH)?;
            if !batch.is_empty() {
                self.events.add(batch.len() as u64);
                self.chain.process(&mut batch)?;
                batch.clear();
            }
            if let Some(wm) = self.source.watermark() {
                if wm > last_wm {
                    last_wm = wm;
                    self.chain.watermark(wm)?;
                }
            }
            if status == SourceStatus::Exhausted {
                exhausted = true;
                break;
            }
        }
        if exhausted {
            // All input is read: fire everything that waits on event time.
            self.chain.watermark(i64::MAX)?;
        }
        if !plumbing.checkpointing() {
            self.chain.finish()?;
            return Ok(TaskOutcome::Finished);
        }
        // Wait for the final checkpoint: its barrier, then its completion (a
        // failed final checkpoint is triggered again), then end the stream.
        plumbing.send(TaskEvent::SourceExhausted(plumbing.task));
        loop {
            let msg = control.recv().map_err(|_| JobError::Cancelled)?;
            if self.handle_control(msg, &plumbing)? {
                return Ok(TaskOutcome::Finished);
            }
        }
    }

    /// Returns true when the task is done: its final checkpoint completed and
    /// end of input went out after it.
    fn handle_control(&mut self, msg: Control, plumbing: &CheckpointPlumbing) -> Result<bool, JobError> {
        plumbing.note(&msg);
        match msg {
            Control::Trigger(barrier) => {
                let started = Instant::now();
                let mut snapshots = vec![OperatorSnapshot::inline(&self.operator_id, self.source.snapshot()?)];
                self.chain.barrier(&barrier, &mut snapshots)?;
                let start_delay = crate::control::since_trigger(&barrier, started);
                plumbing.upload(&barrier, snapshots, crate::AckStats { sync: started.elapsed(), start_delay, ..Default::default() });
                if barrier.is_final {
                    self.final_barrier = Some(barrier.id);
                }
                Ok(false)
            }
            Control::Complete(n) => {
                self.chain.checkpoint_complete(&n)?;
                if self.final_barrier.is_some_and(|f| n.id >= f) {
                    self.chain.finish()?;
                    return Ok(true);
                }
                Ok(false)
            }
            Control::Abort(n) => {
                self.chain.checkpoint_aborted(&n)?;
                Ok(false)
            }
            Control::SavepointTarget { .. } => Ok(false),
            Control::Cancel => Err(JobError::Cancelled),
        }
    }
}
