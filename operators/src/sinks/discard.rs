//! Counts records and drops them.

use weir_runtime::{Counter, Event, JobError, Sink};

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

impl<T: Send> Sink<T> for DiscardSink {
    fn write(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        self.rows.add(batch.len() as u64);
        batch.clear();
        Ok(())
    }
}
