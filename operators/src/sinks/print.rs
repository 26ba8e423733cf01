//! Writes records to stdout, one line each (at least once, not transactional).

use std::fmt::Display;
use std::io::Write;

use weir_runtime::{Counter, Event, JobError, Sink};

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

impl<T: Display + Send> Sink<T> for PrintSink {
    fn write(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        self.rows.add(batch.len() as u64);
        for e in batch.drain(..) {
            let _ = writeln!(self.buf, "{}", e.value);
        }
        self.flush()
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.flush()
    }
}
