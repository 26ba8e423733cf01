//! Sinks that take no part in checkpoints: they only write.

use crate::{Barrier, Event, JobError, Notification, Operator, OperatorSnapshot};

/// A sink that writes records and keeps no checkpointed state (print,
/// discard, collect). Wrap it in [`SinkOperator`] to end a chain with it; an
/// exactly-once sink implements [`Operator`] itself to take part in checkpoints.
pub trait Sink<T>: Send {
    /// Writes (and drains) a batch.
    fn write(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError>;
    /// End of input.
    fn finish(&mut self) -> Result<(), JobError> {
        Ok(())
    }
}

/// Ends a chain with a [`Sink`].
///
/// ```
/// use weir_runtime::{Event, JobError, Operator, Sink, SinkOperator};
/// struct Count(usize);
/// impl Sink<u8> for Count {
///     fn write(&mut self, batch: &mut Vec<Event<u8>>) -> Result<(), JobError> {
///         self.0 += batch.len();
///         batch.clear();
///         Ok(())
///     }
/// }
/// let mut op = SinkOperator(Count(0));
/// op.process(&mut vec![Event::new(0, 1), Event::new(0, 2)]).unwrap();
/// assert_eq!(op.0 .0, 2);
/// ```
pub struct SinkOperator<S>(pub S);

impl<T, S: Sink<T>> Operator<Event<T>> for SinkOperator<S> {
    fn process(&mut self, batch: &mut Vec<Event<T>>) -> Result<(), JobError> {
        self.0.write(batch)
    }
    fn watermark(&mut self, _: i64) -> Result<(), JobError> {
        Ok(())
    }
    fn barrier(&mut self, _: &Barrier, _: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        Ok(())
    }
    fn checkpoint_complete(&mut self, _: &Notification) -> Result<(), JobError> {
        Ok(())
    }
    fn checkpoint_aborted(&mut self, _: &Notification) -> Result<(), JobError> {
        Ok(())
    }
    fn open(&mut self) -> Result<(), JobError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.0.finish()
    }
}
