//! Collects records in memory (for tests and small jobs).

use std::sync::{Arc, Mutex};

use weir_runtime::{Barrier, Event, JobError, Operator, OperatorSnapshot};

/// Appends every record to a shared vector.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use weir_operators::sinks::CollectSink;
/// use weir_runtime::{Event, Operator};
/// let out = Arc::new(Mutex::new(Vec::new()));
/// let mut sink = CollectSink::new(out.clone());
/// sink.process(&mut vec![Event::new(0, 7)]).unwrap();
/// assert_eq!(*out.lock().unwrap(), vec![7]);
/// ```
pub struct CollectSink<T> {
    out: Arc<Mutex<Vec<T>>>,
}

impl<T> CollectSink<T> {
    /// Collects into `out`.
    pub fn new(out: Arc<Mutex<Vec<T>>>) -> Self {
        CollectSink { out }
    }
}

impl<T: Send> Operator<Event<T>> for CollectSink<T> {
    fn process(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        let mut out = match self.out.lock() {
            Ok(o) => o,
            Err(p) => p.into_inner(),
        };
        out.extend(batch.drain(..).map(|e| e.value));
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
