//! Records too late for every window they belong to: sent to the late-data
//! side output if the job asked for one, dropped otherwise, and counted
//! either way (in the job's result and in `/metrics`).

use weir_runtime::{Barrier, Counter, Counters, Event, JobError, Notification, Operator, OperatorSnapshot, SubtaskEnv};

/// A window operator's handling of late records and its late-data output.
pub(crate) struct LateData<T> {
    /// How long after a window's end it still takes records (ms).
    pub(crate) allowed: i64,
    side: Option<Box<dyn Operator<Event<T>>>>,
    buffer: Vec<Event<T>>,
    dropped: Counter,
    dropped_total: metrics::Counter,
    sent_total: metrics::Counter,
    updates_total: metrics::Counter,
}

impl<T: Send> LateData<T> {
    pub(crate) fn new(operator: &str, env: &SubtaskEnv, allowed: i64, side: Option<Box<dyn Operator<Event<T>>>>) -> Self {
        Self::counted_in(operator, &env.counters, allowed, side)
    }

    /// As [`LateData::new`], counting dropped records in `counters`.
    pub(crate) fn counted_in(operator: &str, counters: &Counters, allowed: i64, side: Option<Box<dyn Operator<Event<T>>>>) -> Self {
        let op = operator.to_string();
        LateData {
            allowed: allowed.max(0),
            side,
            buffer: Vec::new(),
            dropped: counters.counter("late_records_dropped"),
            dropped_total: metrics::counter!("weir_late_records_total", "operator" => op.clone(), "outcome" => "dropped"),
            sent_total: metrics::counter!("weir_late_records_total", "operator" => op.clone(), "outcome" => "side_output"),
            updates_total: metrics::counter!("weir_late_window_updates_total", "operator" => op),
        }
    }

    /// A record later than every window it belongs to (allowed lateness included).
    #[inline]
    pub(crate) fn late(&mut self, record: Event<T>) {
        if self.side.is_some() {
            self.sent_total.increment(1);
            self.buffer.push(record);
        } else {
            self.dropped_total.increment(1);
            self.dropped.add(1);
        }
    }

    /// A window fired again for a record within its allowed lateness.
    pub(crate) fn updated(&self) {
        self.updates_total.increment(1);
    }

    fn flush(&mut self) -> Result<(), JobError> {
        match &mut self.side {
            Some(side) if !self.buffer.is_empty() => side.process(&mut self.buffer),
            _ => Ok(()),
        }
    }

    /// Passes a call on to the side output, after what it holds.
    pub(crate) fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.flush()?;
        self.side.as_mut().map_or(Ok(()), |s| s.watermark(watermark))
    }
    pub(crate) fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        self.flush()?;
        self.side.as_mut().map_or(Ok(()), |s| s.barrier(barrier, snapshots))
    }
    pub(crate) fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        self.side.as_mut().map_or(Ok(()), |s| s.checkpoint_complete(n))
    }
    pub(crate) fn checkpoint_aborted(&mut self, n: &Notification) -> Result<(), JobError> {
        self.side.as_mut().map_or(Ok(()), |s| s.checkpoint_aborted(n))
    }
    pub(crate) fn open(&mut self) -> Result<(), JobError> {
        self.side.as_mut().map_or(Ok(()), |s| s.open())
    }
    pub(crate) fn finish(&mut self) -> Result<(), JobError> {
        self.flush()?;
        self.side.as_mut().map_or(Ok(()), |s| s.finish())
    }
    pub(crate) fn idle(&mut self) -> Result<(), JobError> {
        self.flush()?;
        self.side.as_mut().map_or(Ok(()), |s| s.idle())
    }
}
