//! Broadcast state beside an input that is not keyed: the input is dealt
//! out round robin, the broadcast stream reaches every instance, and each
//! instance keeps the same broadcast state (checkpointed per instance; a
//! restore at any parallelism gives every instance the first copy).

use weir_runtime::{Barrier, Event, JobError, Notification, Operator, OperatorSnapshot, SubtaskEnv};
use weir_state::codec;
use weir_state::StateType;

use crate::broadcast::BroadcastContext;
use crate::co_process::Either;
use crate::side::SideOutputs;
use crate::stateless_process::Context;
use crate::UserError;

/// Per-record logic over an input that is not keyed, reading broadcast
/// state `S` that a second, broadcast input keeps up to date, like Flink's
/// `BroadcastProcessFunction`.
///
/// ```
/// use std::collections::BTreeSet;
/// use weir_operators::{BroadcastContext, BroadcastProcessFunction, Context, UserError};
///
/// /// Drops words on the broadcast block list.
/// #[derive(Clone)]
/// struct Blocked;
/// impl BroadcastProcessFunction<String, String, BTreeSet<String>, String> for Blocked {
///     fn process(&mut self, word: String, blocked: &BTreeSet<String>, ctx: &mut Context<'_, String>) -> Result<(), UserError> {
///         if !blocked.contains(&word) {
///             ctx.emit(word);
///         }
///         Ok(())
///     }
///     fn process_broadcast(&mut self, word: String, blocked: &mut BTreeSet<String>, _: &mut BroadcastContext<'_, String>) -> Result<(), UserError> {
///         blocked.insert(word);
///         Ok(())
///     }
/// }
/// ```
pub trait BroadcastProcessFunction<A, B, S, O>: Send {
    /// Handles a record of the input, reading the broadcast state.
    fn process(&mut self, value: A, broadcast: &S, ctx: &mut Context<'_, O>) -> Result<(), UserError>;
    /// Handles a record of the broadcast input (every instance gets it),
    /// changing the broadcast state. Every instance must change it the same way.
    fn process_broadcast(&mut self, value: B, broadcast: &mut S, ctx: &mut BroadcastContext<'_, O>) -> Result<(), UserError>;
}

/// Runs a [`BroadcastProcessFunction`] over the input (`Left`) and the
/// broadcast records (`Right`).
pub struct BroadcastOperator<A, B, S, O, F> {
    id: String,
    f: F,
    broadcast: S,
    watermark: i64,
    out: Vec<Event<O>>,
    side: SideOutputs,
    next: Box<dyn Operator<Event<O>>>,
    _in: std::marker::PhantomData<fn(A, B)>,
}

/// The broadcast state an instance starts with: its own checkpointed copy,
/// or after a change of parallelism the first (they are all equal).
pub(crate) fn restored_broadcast<S: StateType + Default>(id: &str, env: &SubtaskEnv) -> Result<S, JobError> {
    let Some(r) = env.restored(id, false)? else { return Ok(S::default()) };
    let copy = r.inline.clone().or_else(|| r.rescaled.as_ref().and_then(|x| x.states.first().map(|(_, b)| b.clone())));
    match copy {
        Some(bytes) => {
            codec::decode(r.format, &bytes).map_err(|e| JobError::Input(format!("operator {id}: its checkpointed broadcast state: {e}")))
        }
        None => Ok(S::default()),
    }
}

impl<A, B, S: StateType + Default, O: Send, F: BroadcastProcessFunction<A, B, S, O>> BroadcastOperator<A, B, S, O, F> {
    /// Builds the instance described by `env`, restoring its broadcast
    /// state if the job restores.
    pub fn new(id: &str, f: F, env: &SubtaskEnv, side: SideOutputs, next: Box<dyn Operator<Event<O>>>) -> Result<Self, JobError> {
        Ok(BroadcastOperator {
            id: id.to_string(),
            f,
            broadcast: restored_broadcast(id, env)?,
            watermark: i64::MIN,
            out: Vec::new(),
            side,
            next,
            _in: std::marker::PhantomData,
        })
    }

    fn flush(&mut self) -> Result<(), JobError> {
        self.side.flush()?;
        if !self.out.is_empty() {
            self.next.process(&mut self.out)?;
            self.out.clear();
        }
        Ok(())
    }
}

impl<A, B, S, O, F> Operator<Either<Event<A>, Event<B>>> for BroadcastOperator<A, B, S, O, F>
where
    A: Send,
    B: Send,
    S: StateType + Default,
    O: Send,
    F: BroadcastProcessFunction<A, B, S, O>,
{
    fn process(&mut self, batch: &mut Vec<Either<Event<A>, Event<B>>>) -> Result<(), JobError> {
        for r in batch.drain(..) {
            let done = match r {
                Either::Left(e) => {
                    let mut ctx = Context::new(e.ts, self.watermark, &mut self.out, &mut self.side);
                    self.f.process(e.value, &self.broadcast, &mut ctx)
                }
                Either::Right(b) => {
                    let mut ctx = BroadcastContext::new(b.ts, &mut self.out);
                    self.f.process_broadcast(b.value, &mut self.broadcast, &mut ctx)
                }
            };
            done.map_err(|e| JobError::Operator { operator: self.id.clone(), message: e.to_string() })?;
        }
        self.flush()
    }
    fn watermark(&mut self, watermark: i64) -> Result<(), JobError> {
        self.watermark = watermark;
        self.side.watermark(watermark)?;
        self.next.watermark(watermark)
    }
    fn barrier(&mut self, barrier: &Barrier, snapshots: &mut Vec<OperatorSnapshot>) -> Result<(), JobError> {
        snapshots.push(OperatorSnapshot::inline(&self.id, codec::encode(&self.broadcast)?));
        self.side.barrier(barrier, snapshots)?;
        self.next.barrier(barrier, snapshots)
    }
    fn checkpoint_complete(&mut self, n: &Notification) -> Result<(), JobError> {
        self.side.checkpoint_complete(n)?;
        self.next.checkpoint_complete(n)
    }
    fn checkpoint_aborted(&mut self, n: &Notification) -> Result<(), JobError> {
        self.side.checkpoint_aborted(n)?;
        self.next.checkpoint_aborted(n)
    }
    fn open(&mut self) -> Result<(), JobError> {
        self.side.open()?;
        self.next.open()
    }
    fn finish(&mut self) -> Result<(), JobError> {
        self.flush()?;
        self.side.finish()?;
        self.next.finish()
    }
    fn idle(&mut self) -> Result<(), JobError> {
        self.side.idle()?;
        self.next.idle()
    }
}
