//! Writes records to stdout, one line each (at least once, not transactional).

use std::fmt::Display;
use std::io::Write;

use weir_runtime::{Barrier, Counter, Event, JobError, Operator, OperatorSnapshot};

/// Prints each record's `Display` on its own line.
pub struct PrintSink {
    rows: Counter,
    buf: Vec<u8>,
}

impl PrintSink {
    /// Counts into `rows`.
    pub fn new(rows: Counter) -> Self {
        PrintSink { rows, buf: Vec::new() }
    }
    fn flush(&mut self) -> Result<(), JobError> {
        let mut out = std::io::stdout().lock();
        out.write_all(&self.buf).and_then(|_| out.flush()).map_err(|e| JobError::io("writing to stdout", e))?;
        self.buf.clear();
        Ok(())
    }
}

impl<T: Display + Send> Operator<Event<T>> for PrintSink {
    fn process(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        self.rows.add(batch.len() as u64);
        for e in batch.drain(..) {
            let _ = writeln!(self.buf, "{}", e.value);
        }
        self.flush()
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
        self.flush()
    }
}
