//! Sources and the task that drives one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_state::ValueFormat;

use crossbeam_channel::RecvTimeoutError;

use crate::snapshot::OperatorSnapshot;
use crate::task::{CheckpointPlumbing, TaskOutcome};
use crate::{Control, Counter, Event, JobError, Notification, Operator, TaskEvent};

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceStatus {
    /// More may come.
    More,
    /// Nothing now, more may come later (an unbounded source that is caught
    /// up). The task then waits on its control channel before it polls
    /// again, from 1 ms up to 50 ms while the source stays idle, instead of
    /// spinning a core.
    Idle,
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
    /// Called just before [`Source::snapshot`] with the id of the checkpoint
    /// or savepoint the snapshot is for.
    fn on_barrier(&mut self, checkpoint: u64) {
        let _ = checkpoint;
    }
    /// A checkpoint or savepoint completed (see [`Notification::commits`]):
    /// a source that tells an external system how far it has read (a Kafka
    /// consumer group's offsets) does it here, never earlier.
    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        let _ = n;
        Ok(())
    }
    /// Resumes from a position encoded in `format` (that of the checkpoint).
    fn restore(&mut self, position: &[u8], format: ValueFormat) -> Result<(), JobError>;
    /// Resumes at another parallelism: `positions` are those of every
    /// instance of the run that ran with `parallelism` instances; each new
    /// instance takes its share of the work they had left. They are encoded in `format`.
    fn restore_rescaled(&mut self, parallelism: u32, positions: &[(u32, Vec<u8>)], format: ValueFormat) -> Result<(), JobError> {
        let _ = (positions, format);
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
    /// After how long without records the source marks its output idle, so
    /// that it does not hold back the watermark downstream (`None`: never).
    pub idle_timeout: Option<Duration>,
}

/// The first wait of a source that has nothing to read.
const IDLE_WAIT_MIN: Duration = Duration::from_millis(1);
/// The longest wait between two polls of an idle source: how late it may
/// see new input, a checkpoint trigger or a stop request.
const IDLE_WAIT_MAX: Duration = Duration::from_millis(50);

/// A source task's idleness: how long to wait before the next poll, since
/// when the source has had nothing, and whether its output is marked idle.
struct Idleness {
    wait: Duration,
    since: Option<Instant>,
    marked: bool,
}

impl Idleness {
    fn new() -> Self {
        Idleness { wait: IDLE_WAIT_MIN, since: None, marked: false }
    }

    /// How long to wait now (doubling from poll to poll up to the cap, and
    /// never past the moment the output is to be marked idle).
    fn next_wait(&mut self, now: Instant, timeout: Option<Duration>) -> Duration {
        let since = self.since.unwrap_or(now);
        let wait = self.wait;
        self.wait = (self.wait * 2).min(IDLE_WAIT_MAX);
        match timeout {
            Some(t) if !self.marked => wait.min((since + t).saturating_duration_since(now)),
            _ => wait,
        }
    }

    /// Whether the output is to be marked idle now.
    fn due(&self, now: Instant, timeout: Option<Duration>) -> bool {
        match (timeout, self.since) {
            (Some(t), Some(since)) => !self.marked && now.duration_since(since) >= t,
            _ => false,
        }
    }
}

impl<T: Send + 'static> SourceTask<T> {
    pub(crate) fn run(mut self, plumbing: CheckpointPlumbing) -> Result<TaskOutcome, JobError> {
        let mut batch: Vec<Event<T>> = Vec::with_capacity(SOURCE_BATCH);
        let mut last_wm = i64::MIN;
        let control = plumbing.control.clone();
        self.chain.open()?;
        let mut exhausted = false;
        let mut idle = Idleness::new();
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
            let polled = batch.len();
            if polled > 0 {
                if idle.marked {
                    // Active again: the watermark reaches every channel, also
                    // those the records do not go to.
                    self.chain.watermark(last_wm)?;
                }
                idle = Idleness::new();
                self.events.add(polled as u64);
                self.chain.process(&mut batch)?;
                batch.clear();
            }
            if let Some(wm) = self.source.watermark() {
                if wm > last_wm {
                    last_wm = wm;
                    idle.marked = false;
                    self.chain.watermark(wm)?;
                }
            }
            if status == SourceStatus::Exhausted {
                exhausted = true;
                break;
            }
            if status == SourceStatus::Idle && polled == 0 && self.wait_idle(&mut idle, &plumbing)? {
                return Ok(TaskOutcome::Finished);
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

    /// Waits on the control channel while the source has nothing, handling
    /// what arrives (a checkpoint trigger is served at once), and marks the
    /// output idle once the source has had nothing for `idle_timeout`.
    /// Returns true when the task is done, as [`Self::handle_control`].
    fn wait_idle(&mut self, idle: &mut Idleness, plumbing: &CheckpointPlumbing) -> Result<bool, JobError> {
        let now = Instant::now();
        idle.since.get_or_insert(now);
        if idle.due(now, self.idle_timeout) {
            idle.marked = true;
            self.chain.idle()?;
        }
        let wait = idle.next_wait(now, self.idle_timeout);
        match plumbing.control.recv_timeout(wait) {
            Ok(msg) => self.handle_control(msg, plumbing),
            Err(RecvTimeoutError::Timeout) => Ok(false),
            Err(RecvTimeoutError::Disconnected) => Err(JobError::Cancelled),
        }
    }

    /// Returns true when the task is done: its final checkpoint completed and
    /// end of input went out after it.
    fn handle_control(&mut self, msg: Control, plumbing: &CheckpointPlumbing) -> Result<bool, JobError> {
        plumbing.note(&msg);
        match msg {
            Control::Trigger(barrier) => {
                let started = Instant::now();
                self.source.on_barrier(barrier.id);
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
                self.source.checkpoint_complete(&n)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_source_waits_longer_and_longer_up_to_the_cap() {
        let now = Instant::now();
        let mut idle = Idleness::new();
        idle.since = Some(now);
        let waits: Vec<u64> = (0..9).map(|_| idle.next_wait(now, None).as_millis() as u64).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 50, 50, 50]);
    }

    #[test]
    fn the_wait_ends_when_the_output_is_due_to_be_marked_idle() {
        let now = Instant::now();
        let timeout = Some(Duration::from_millis(20));
        let mut idle = Idleness::new();
        idle.since = Some(now);
        idle.wait = IDLE_WAIT_MAX;
        assert_eq!(idle.next_wait(now + Duration::from_millis(5), timeout), Duration::from_millis(15));
        assert!(!idle.due(now + Duration::from_millis(19), timeout));
        assert!(idle.due(now + Duration::from_millis(20), timeout));
        idle.marked = true;
        assert!(!idle.due(now + Duration::from_millis(30), timeout), "marked once");
        assert_eq!(idle.next_wait(now + Duration::from_millis(30), timeout), IDLE_WAIT_MAX);
        assert!(!Idleness::new().due(now, None), "never without a timeout");
    }
}
