//! Side outputs: a second stream out of an operator, named by an
//! [`OutputTag`]: the records too late for their windows, or whatever a
//! process function sends with `ctx.output(&tag, value)`.

use std::any::TypeId;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use weir_operators::{OutputTag, SideChannel, SideOutputs, TypedSide};
use weir_runtime::{EdgeId, EdgeSpec, Event, ForwardOutput, JobError, Operator, SubtaskEnv, Wiring};

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
        SideOutput { name: tag.name().to_string(), type_id: TypeId::of::<T>(), edge: Rc::new(Cell::new(None)) }
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

/// Builds an instance's end of a taken side output.
type MakeSide = Rc<dyn Fn(&SubtaskEnv, &mut Wiring) -> Result<Box<dyn SideChannel>, JobError>>;

/// The side outputs taken from a process function, which may send to any
/// tag: each taken tag's name, record type and channel maker.
#[derive(Clone, Default)]
pub(crate) struct OpenSides(Rc<RefCell<Vec<(String, TypeId, MakeSide)>>>);

impl OpenSides {
    /// Takes `tag` on an edge of `edge`; false if it was taken already.
    pub(crate) fn take<X: Send + 'static>(&self, tag: &OutputTag<X>, edge: EdgeId) -> bool {
        let mut sides = self.0.borrow_mut();
        if sides.iter().any(|(name, _, _)| name == tag.name()) {
            return false;
        }
        let make: MakeSide = Rc::new(move |env, wiring| {
            let out = SideOutput::output::<X>(Some(edge), env, wiring)?
                .ok_or_else(|| JobError::Config("side output edge without a channel".into()))?;
            Ok(TypedSide::boxed(out))
        });
        sides.push((tag.name().to_string(), TypeId::of::<X>(), make));
        true
    }

    /// The instance's ends of every taken side output.
    pub(crate) fn build(&self, env: &SubtaskEnv, wiring: &mut Wiring) -> Result<SideOutputs, JobError> {
        let mut out = SideOutputs::default();
        for (name, _, make) in self.0.borrow().iter() {
            out.add(name, make(env, wiring)?);
        }
        Ok(out)
    }
}
