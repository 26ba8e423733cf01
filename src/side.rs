//! Side outputs: a second stream out of an operator, named by an
//! [`OutputTag`], such as the records too late for their windows.

use std::any::TypeId;
use std::cell::Cell;
use std::marker::PhantomData;
use std::rc::Rc;

use weir_runtime::{EdgeId, EdgeSpec, Event, ForwardOutput, JobError, Operator, SubtaskEnv, Wiring};

/// Names a side output and the type of its records, like Flink's `OutputTag`.
///
/// ```
/// use weir::OutputTag;
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

/// A side output an operator offers: taken (given a channel) once
/// [`DataStream::side_output`](crate::DataStream::side_output) asks for it;
/// an operator whose side output nobody takes drops those records.
#[derive(Clone)]
pub(crate) struct SideOutput {
    pub(crate) name: String,
    pub(crate) type_id: TypeId,
    pub(crate) edge: Rc<Cell<Option<EdgeId>>>,
}

impl SideOutput {
    pub(crate) fn new<T: 'static>(tag: &OutputTag<T>) -> Self {
        SideOutput { name: tag.name.clone(), type_id: TypeId::of::<T>(), edge: Rc::new(Cell::new(None)) }
    }

    /// The edge of a newly taken side output of `parallelism` instances.
    pub(crate) fn edge<T: Send + 'static>(parallelism: u32) -> EdgeSpec {
        EdgeSpec::forward::<Event<T>>(parallelism)
    }

    /// The instance's end of the side output, if it was taken.
    pub(crate) fn output<T: Send + 'static>(
        edge: Option<EdgeId>,
        env: &SubtaskEnv,
        wiring: &mut Wiring,
    ) -> Result<Option<Box<dyn Operator<Event<T>>>>, JobError> {
        let Some(edge) = edge else { return Ok(None) };
        let mut senders = wiring.senders::<Event<T>>(edge, env.subtask)?;
        let tx = senders.pop().ok_or_else(|| JobError::Config("side output edge without a channel".into()))?;
        Ok(Some(Box::new(ForwardOutput::new(tx))))
    }
}
