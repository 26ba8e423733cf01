//! Side outputs: records an operator sends beside its main output, to the
//! stream taken with `DataStream::side_output(&tag)`; a side output nobody
//! took drops its records.

use std::any::Any;
use std::marker::PhantomData;

use weir_runtime::{Barrier, Event, JobError, Notification, Operator, OperatorSnapshot};

/// Names a side output and the type of its records, like Flink's `OutputTag`.
///
/// ```
/// use weir_operators::OutputTag;
/// let late: OutputTag<u64> = OutputTag::new("late-bids");
/// assert_eq!(late.name(), "late-bids");
/// ```
pub struct OutputTag<T> {
    name: String,
    _t: PhantomData<fn() -> T>,
}

impl<T> OutputTag<T> {
    /// A tag called `name` (unique among an operator's side outputs).
    pub fn new(name: &str) -> Self {
        OutputTag { name: name.to_string(), _t: PhantomData }
    }
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<T> Clone for OutputTag<T> {
    fn clone(&self) -> Self {
        OutputTag::new(&self.name)
    }
}

/// One taken side output of records `X`, behind a type-erased face.
pub trait SideChannel: Send {
    /// For [`SideOutputs::push`] to find its type.
    fn as_any(&mut self) -> &mut dyn Any;
    /// Sends what it holds.
    fn flush(&mut self) -> Result<(), JobError>;
    /// Passes a watermark on.
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError>;
    /// Passes a barrier on.
    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError>;
    /// Passes end of input on.
    fn finish(&mut self) -> Result<(), JobError>;
    /// Passes idleness on.
    fn idle(&mut self) -> Result<(), JobError>;
    /// Passes a completion on.
    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError>;
    /// Passes an abort on.
    fn checkpoint_aborted(&mut self, n: &Notification) -> Result<(), JobError>;
    /// Passes open on.
    fn open(&mut self) -> Result<(), JobError>;
}

/// A side output of records `X` going to `out`.
pub struct TypedSide<X> {
    buffer: Vec<Event<X>>,
    out: Box<dyn Operator<Event<X>>>,
}

impl<X: Send + 'static> TypedSide<X> {
    /// Sends to `out`.
    pub fn boxed(out: Box<dyn Operator<Event<X>>>) -> Box<dyn SideChannel> {
        Box::new(TypedSide { buffer: Vec::new(), out })
    }
}

impl<X: Send + 'static> SideChannel for TypedSide<X> {
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
    fn flush(&mut self) -> Result<(), JobError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        self.out.process(&mut self.buffer)
    }
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.flush()?;
        self.out.watermark(watermark)
    }
    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        self.flush()?;
        self.out.barrier(barrier, snapshots)
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.flush()?;
        self.out.finish()
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.flush()?;
        self.out.idle()
    }
    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        self.out.checkpoint_complete(n)
    }
    fn checkpoint_aborted(&mut self, n: &Notification) -> Result<(), JobError> {
        self.out.checkpoint_aborted(n)
    }
    fn open(&mut self) -> Result<(), JobError> {
        self.out.open()
    }
}

/// The side outputs of one operator instance that were taken, by tag name.
#[derive(Default)]
pub struct SideOutputs {
    channels: Vec<(String, Box<dyn SideChannel>)>,
}

impl SideOutputs {
    /// Adds the taken side output `name`.
    pub fn add(&mut self, name: &str, channel: Box<dyn SideChannel>) {
        self.channels.push((name.to_string(), channel));
    }

    /// Sends `value` at `ts` to the side output `tag`; dropped if nobody took it.
    pub fn push<X: Send + 'static>(&mut self, tag: &OutputTag<X>, ts: i64, value: X) {
        for (name, channel) in &mut self.channels {
            if name == tag.name() {
                if let Some(side) = channel.as_any().downcast_mut::<TypedSide<X>>() {
                    side.buffer.push(Event { ts, value });
                    return;
                }
            }
        }
    }

    fn each(&mut self, mut f: impl FnMut(&mut dyn SideChannel) -> Result<(), JobError>) -> Result<(), JobError> {
        for (_, c) in &mut self.channels {
            f(c.as_mut())?;
        }
        Ok(())
    }

    /// Sends what every side output holds.
    pub fn flush(&mut self) -> Result<(), JobError> {
        self.each(|c| c.flush())
    }
    /// Passes a watermark to every side output.
    pub fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.each(|c| c.watermark(watermark))
    }
    /// Passes a barrier to every side output.
    pub fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        self.each(|c| c.barrier(barrier, snapshots))
    }
    /// Passes end of input to every side output.
    pub fn finish(&mut self) -> Result<(), JobError> {
        self.each(|c| c.finish())
    }
    /// Passes idleness to every side output.
    pub fn idle(&mut self) -> Result<(), JobError> {
        self.each(|c| c.idle())
    }
    /// Passes a completion to every side output.
    pub fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        self.each(|c| c.checkpoint_complete(n))
    }
    /// Passes an abort to every side output.
    pub fn checkpoint_aborted(&mut self, n: &Notification) -> Result<(), JobError> {
        self.each(|c| c.checkpoint_aborted(n))
    }
    /// Passes open to every side output.
    pub fn open(&mut self) -> Result<(), JobError> {
        self.each(|c| c.open())
    }
}
