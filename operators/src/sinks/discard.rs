//! Counts records and drops them.

use weir_runtime::{Barrier, Counter, Event, JobError, Operator, OperatorSnapshot};

/// Counts its records in the `output_rows` counter and drops them.
pub struct DiscardSink {
    rows: Counter,
}

impl DiscardSink {
    /// Counts into `rows`.
    pub fn new(rows: Counter) -> Self {
        DiscardSink { rows }
    }
}

impl<T: Send> Operator<Event<T>> for DiscardSink {
    fn process(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        self.rows.add(batch.len() as u64);
        batch.clear();
        Ok(())
    }
    fn watermark(&mut self, _: i64) -> Result<(), JobError> {
        Ok(())
    }
    fn barrier(&mut self, _: &Barrier, _: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        Ok(())
    }
    fn checkpoint_complete(&mut self, _: u64) -> Result<(), JobError> {
        Ok(())
    }
    fn checkpoint_aborted(&mut self, _: u64) -> Result<(), JobError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), JobError> {
        Ok(())
    }
}
