//! Collects records in memory (for tests and small jobs).

use std::sync::{Arc, Mutex};

use weir_runtime::{Event, JobError, Sink};

/// Appends every record to a shared vector.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use weir_operators::sinks::CollectSink;
/// use weir_runtime::{Event, Sink};
/// let out = Arc::new(Mutex::new(Vec::new()));
/// let mut sink = CollectSink::new(out.clone());
/// sink.write(&mut vec![Event::new(0, 7)]).unwrap();
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

impl<T: Send> Sink<T> for CollectSink<T> {
    fn write(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        let mut out = match self.out.lock() {
            Ok(o) => o,
            Err(p) => p.into_inner(),
        };
        out.extend(batch.drain(..).map(|e| e.value));
        Ok(())
    }
}
